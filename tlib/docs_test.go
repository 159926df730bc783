package tlib

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocExamples keeps docs/tlib.md honest: every JSON example (```json
// blocks, and the → / ← lines of the example session) must decode, be in
// canonical wire form (exactly what Encode produces), pass Validate, and
// every message name must have at least one example.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/tlib.md")
	require.NoError(t, err)

	seen := map[string]bool{}
	var block string // "" outside a code block, else its language
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if block == "" {
				block = strings.TrimPrefix(line, "```") + " "
			} else {
				block = ""
			}
			continue
		}
		var js string
		switch {
		case block == "json ":
			js = line
		case block == "text " && (strings.HasPrefix(line, "→ ") || strings.HasPrefix(line, "← ")):
			js = line[len("→ "):]
		default:
			continue
		}
		m, err := Decode([]byte(js))
		if !assert.NoError(t, err, "docs/tlib.md:%d", n) {
			continue
		}
		assert.True(t, IsRequest(m.Name) || IsEvent(m.Name), "docs/tlib.md:%d: unknown %q", n, m.Name)
		assert.NoError(t, m.Validate(), "docs/tlib.md:%d", n)
		enc, err := Encode(m)
		require.NoError(t, err)
		assert.Equal(t, string(enc), js+"\n", "docs/tlib.md:%d is not in canonical form", n)
		seen[m.Name] = true
	}
	require.NoError(t, sc.Err())
	for name := range requests {
		assert.True(t, seen[name], "no example for %s", name)
	}
	for name := range events {
		assert.True(t, seen[name], "no example for %s", name)
	}
}
