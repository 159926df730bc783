package recorder

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
)

// TestSupervisorJoinsAndLeaves: a supervisor stream added by re-INVITE with partial metadata
// becomes a third channel (silent before the join and after the leave), the participant is
// merged into the stored metadata with its disassociate time.
func TestSupervisorJoinsAndLeaves(t *testing.T) {
	r := startRecorder(t, func(c *Config) { c.PerPartyFiles = true })
	src := newTestSRC(t, "tcp", nil)
	sc, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: "U-sup", parties: twoParties()})
	require.NoError(t, err)
	start := findByCallUUID(t, r, "U-sup").StartTime
	ms := func(tm time.Time) int { return int(tm.Sub(start).Milliseconds()) }

	time.Sleep(500 * time.Millisecond) // scenario pacing
	sc.addParty(party{label: "sup", aor: "sip:7100@lab", tone: toneC, law: audio.Ulaw})
	joined := time.Now()
	time.Sleep(600 * time.Millisecond)
	sc.removeParty(2)
	left := time.Now()
	time.Sleep(400 * time.Millisecond)
	end := time.Now()
	sc.hangup()

	rec := findByCallUUID(t, r, "U-sup")
	require.Len(t, rec.Channels, 3)
	assert.Equal(t, "sup", rec.Channels[2].Label)
	assert.Equal(t, "sip:7100@lab", rec.Channels[2].AOR)
	require.Len(t, rec.Participants, 3)
	sup := rec.Participants[2]
	assert.Equal(t, "sip:7100@lab", sup.AOR)
	assert.False(t, sup.Associated.IsZero())
	assert.False(t, sup.Disassociate.IsZero(), "leave recorded")
	assert.Empty(t, rec.Pauses, "one inactive stream is not a pause of the recording")

	f := downloadWAV(t, r, rec.ID)
	require.Equal(t, 3, f.Header.Channels)
	expectSpans(t, f.Samples[0], 40, span{200, ms(end), toneA})
	expectSpans(t, f.Samples[2], 40, span{0, ms(joined), 0}, span{ms(joined), ms(left), toneC}, span{ms(left), ms(end), 0})
	assert.Empty(t, rec.Audio.Segments, "segments merged into audio.wav")
	require.Len(t, rec.Audio.PartyFiles, 3)
	for ch, name := range rec.Audio.PartyFiles {
		_, err := os.Stat(r.Store().Path(rec, name))
		assert.NoError(t, err, "party file %d", ch)
	}

	merged, err := os.ReadFile(r.Store().Path(rec, MetadataFile))
	require.NoError(t, err)
	assert.Contains(t, string(merged), "sip:7100@lab", "metadata.xml is the merged snapshot")
	assert.Contains(t, string(merged), "disassociate-time")
	update, err := os.ReadFile(r.Store().Path(rec, "metadata.2.xml"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(update), "partial"), "updates kept as received")
}
