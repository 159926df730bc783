package sdp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deviceFiles lists testdata/*.sdp.
func deviceFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.sdp"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func loadSession(t *testing.T, name string) *Session {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	s, err := Parse(b)
	require.NoError(t, err, name)
	return s
}

// checkGolden compares got with testdata/golden/name, rewriting it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -run TestGolden -update")
	require.Equal(t, string(want), string(got), path)
}

// TestGolden parses every device SDP, compares the parsed Session (as JSON)
// and its re-marshalled text with golden files, and checks that the
// re-marshalled text parses back to the same Session and marshals stably.
func TestGolden(t *testing.T) {
	for _, file := range deviceFiles(t) {
		base := strings.TrimSuffix(filepath.Base(file), ".sdp")
		t.Run(base, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			s, err := Parse(raw)
			require.NoError(t, err)

			js, err := json.MarshalIndent(s, "", "  ")
			require.NoError(t, err)
			checkGolden(t, base+".json", append(js, '\n'))

			out := s.Marshal()
			checkGolden(t, base+".sdp", out)

			again, err := Parse(out)
			require.NoError(t, err)
			require.Equal(t, s, again, "re-parse of the marshalled SDP differs")
			require.Equal(t, string(out), string(again.Marshal()), "marshal is not stable")
		})
	}
}
