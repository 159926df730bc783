package wav

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSoxAccepts checks an independent implementation reads our files: sox
// must report the channel count and exact sample count we wrote.
func TestSoxAccepts(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox not installed; skipping the external reader check")
	}
	samplesRE := regexp.MustCompile(`= (\d+) samples`)
	channelsRE := regexp.MustCompile(`Channels\s*:\s*(\d+)`)
	for _, f := range []Format{PCM16, ULaw, ALaw} {
		for _, ch := range []int{1, 2, 3} {
			path := filepath.Join(t.TempDir(), f.String()+".wav")
			w, err := Create(path, Header{Format: f, Channels: ch})
			require.NoError(t, err)
			const frames = 4001 // odd: exercises the pad byte for 1 and 3 channels
			require.NoError(t, w.WriteFrames(tone(frames, ch, 0)))
			require.NoError(t, w.Close())

			out, err := exec.Command(sox, "--i", path).CombinedOutput()
			require.NoError(t, err, "%s %d ch: %s", f, ch, out)
			m := samplesRE.FindSubmatch(out)
			require.NotNil(t, m, "%s", out)
			n, _ := strconv.Atoi(string(m[1]))
			assert.Equal(t, frames, n, "%s %d ch", f, ch)
			m = channelsRE.FindSubmatch(out)
			require.NotNil(t, m, "%s", out)
			assert.Equal(t, strconv.Itoa(ch), string(m[1]))

			// Full decode, not just the header: sox must read every sample.
			out, err = exec.Command(sox, path, "-n", "stat").CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.NotContains(t, string(out), "WARN", "%s", out)
		}
	}
}
