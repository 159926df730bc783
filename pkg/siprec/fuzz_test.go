package siprec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns the vendor corpus split into (Content-Type, body).
func fuzzSeeds(f testing.TB) (cts []string, bodies [][]byte) {
	files, _ := filepath.Glob(filepath.Join("testdata", "vendors", "*.txt"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		ct, body := splitSIP(f, raw)
		cts, bodies = append(cts, ct), append(bodies, body)
	}
	return cts, bodies
}

func FuzzParseMetadata(f *testing.F) {
	cts, bodies := fuzzSeeds(f)
	for i := range bodies {
		if b, err := ParseBody(cts[i], bodies[i]); err == nil {
			f.Add(b.Metadata)
		}
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	for _, g := range goldens {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY a "b">]><recording>&a;</recording>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><recording><participant id="x"><send>s</send></participant></recording>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetadata(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEntity) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		_ = m.Validate()
		c := m.Clone()
		c.Merge(m)
		out, err := m.Marshal()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Marshal: %v", err)
			}
			return
		}
		// Whatever we accept, we write back as a document we accept again.
		if _, err := ParseMetadata(out); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("re-parse of our own output failed: %v\n%s", err, out)
		}
	})
}

func FuzzParseBody(f *testing.F) {
	cts, bodies := fuzzSeeds(f)
	for i := range bodies {
		f.Add(cts[i], bodies[i])
	}
	f.Add("multipart/mixed;boundary=b", []byte("--b\n\n--b--"))
	f.Add("application/sdp", []byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		b, err := ParseBody(ct, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoSDP) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if b == nil {
				return
			}
		}
		if len(b.Parts) > maxParts {
			t.Fatalf("%d parts", len(b.Parts))
		}
		total := 0
		for _, p := range b.Parts {
			total += len(p.Body)
		}
		if total > len(body) {
			t.Fatalf("parts hold %d bytes of a %d-byte body", total, len(body))
		}
		_ = SDPLabels(b.SDP)
	})
}
