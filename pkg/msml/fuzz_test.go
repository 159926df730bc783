package msml

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseRequest checks that no input panics, that every error carries a
// 4xx code, and that whatever parses re-marshals to a document that parses
// back to the same request.
func FuzzParseRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(doc(`<send target="conf:c1/dialog:r1" event="pause"/>`))
	f.Add([]byte(`<msml version="1.1"><!DOCTYPE x><x/></msml>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			if c := CodeOf(err); c < 400 || c > 499 {
				t.Fatalf("error code %d for %q: %v", c, b, err)
			}
			return
		}
		out, err := req.Marshal()
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		back, err := ParseRequest(out)
		if err != nil {
			t.Fatalf("re-marshalled request does not parse: %v\n%s", err, out)
		}
		if back.String() != req.String() || back.Op != req.Op {
			t.Fatalf("round trip changed %v into %v", req, back)
		}
		_, _ = ParseEvent(b)
		_, _ = ParseResult(b)
	})
}
