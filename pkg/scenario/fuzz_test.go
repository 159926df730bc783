package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes the parser panic or hang, every error carries a
// position, and what parses is complete enough to run.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../scenarios/*.yaml")
	more, _ := filepath.Glob("testdata/*.yaml")
	for _, path := range append(seeds, more...) {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(head + "  - call: {from: customer, to: agent}\n  - hangup: customer\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("name: t\nsteps: [{<<: {wait: 1s}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data)
		if err != nil {
			if list, ok := err.(ErrorList); ok {
				for _, e := range list {
					if e.Pos.Line <= 0 || e.Msg == "" {
						t.Fatalf("error without position or message: %#v", e)
					}
				}
			}
			return
		}
		for _, s := range file.Scenarios {
			if s.Name == "" || len(s.Steps) == 0 || s.Timeout <= 0 {
				t.Fatalf("incomplete scenario parsed: %+v", s)
			}
			for _, st := range s.Steps {
				if st.action == nil || st.Name == "" || st.Timeout <= 0 || st.Index <= 0 {
					t.Fatalf("incomplete step parsed: %+v", st)
				}
			}
		}
	})
}
