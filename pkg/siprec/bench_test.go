package siprec

import (
	"strings"
	"testing"
)

// hostile documents of ~240 KiB, each aimed at a path that was once
// super-linear; ParseMetadata+Merge must stay in the tens of milliseconds.
var hostile = map[string]string{
	"draft-send":  `<recording>` + strings.Repeat(`<participant id="a"><send>x</send></participant>`, 5000) + `</recording>`,
	"extensions":  `<recording xmlns:v="urn:v">` + strings.Repeat(`<v:x/>`, 40000) + `</recording>`,
	"assocs":      `<recording>` + strings.Repeat(`<participant participant_id="a"/><participantstreamassoc participant_id="a"><send>x</send></participantstreamassoc>`, 2000) + `</recording>`,
	"dup-streams": `<recording>` + strings.Repeat(`<stream stream_id="a"><label>x</label></stream>`, 5000) + `</recording>`,
	"partial-new": `<recording><datamode>partial</datamode>` + distinctParticipants(6000) + `</recording>`,
}

func distinctParticipants(n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(`<participant participant_id="p`)
		sb.WriteString(strings.Repeat("x", i%7))
		sb.WriteString(string(rune('A' + i%26)))
		sb.WriteString(string(rune('a' + (i/26)%26)))
		sb.WriteString(string(rune('0' + (i/676)%10)))
		sb.WriteString(`"/>`)
	}
	return sb.String()
}

func BenchmarkParseMetadataHostile(b *testing.B) {
	for name, doc := range hostile {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				m, err := ParseMetadata([]byte(doc))
				if err != nil {
					b.Fatal(err)
				}
				c := m.Clone()
				c.Merge(m)
			}
		})
	}
}

func BenchmarkParseVendorBody(b *testing.B) {
	cts, bodies := fuzzSeeds(b)
	b.ReportAllocs()
	for b.Loop() {
		for i := range bodies {
			body, err := ParseBody(cts[i], bodies[i])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseMetadata(body.Metadata); err != nil {
				b.Fatal(err)
			}
		}
	}
}
