package siprec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reparse marshals and parses m, as the update travels over the wire.
func reparse(t *testing.T, m *Metadata) *Metadata {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	back, err := ParseMetadata(b)
	require.NoError(t, err)
	require.Nil(t, back.Warnings)
	return back
}

func TestMergeSupervisorJoins(t *testing.T) {
	srcSnapshot := buildMetadata("s", twoParty(), callData(), t0, seqIDs(0))
	srsView := reparse(t, srcSnapshot) // what the recorder got in the INVITE

	partial := srcSnapshot.addParty(RecordingParty{AOR: "sip:7100@sipserver.example", Name: "Supervisor", Label: "sup"},
		t0.Add(time.Minute), seqIDs(100))
	require.NotNil(t, partial)
	assert.Nil(t, partial.Validate())

	srsView.Merge(reparse(t, partial))
	assert.Equal(t, DataModeComplete, srsView.DataMode)
	assert.Nil(t, srsView.Validate(), "merged snapshot is consistent")
	assert.Equal(t, srcSnapshot, srsView, "SRS view equals the SRC's new snapshot")

	sup := srsView.Participants[2]
	assert.Equal(t, "sip:7100@sipserver.example", sup.AOR)
	assert.Equal(t, []string{srsView.Streams[2].ID}, sup.Send)
	assert.Equal(t, []string{srsView.Streams[0].ID, srsView.Streams[1].ID}, sup.Recv)
	for _, p := range srsView.Participants[:2] {
		assert.Contains(t, p.Recv, srsView.Streams[2].ID, "existing parties now receive the supervisor")
	}
	st, senders, ok := srsView.StreamForLabel("sup")
	require.True(t, ok)
	assert.Equal(t, srsView.Streams[2], st)
	assert.Equal(t, []Participant{sup}, senders)
	assert.Equal(t, callData(), *srsView.CallData, "call data untouched by an update without it")
}

func TestMergePartyLeaves(t *testing.T) {
	src := buildMetadata("s", twoParty(), CallData{}, t0, seqIDs(0))
	src.addParty(RecordingParty{AOR: "sip:7100@x", Label: "sup"}, t0.Add(time.Minute), seqIDs(100))
	srs := reparse(t, src)

	left := t0.Add(2 * time.Minute)
	partial := src.RemoveParty(src.Participants[2].ID, left)
	require.NotNil(t, partial)
	require.Len(t, partial.ParticipantSessionAssocs, 1)
	assert.Nil(t, src.RemoveParty(src.Participants[2].ID, left.Add(time.Second)), "already left")
	assert.Nil(t, src.RemoveParty("bm9ib2R5", left), "unknown participant")

	srs.Merge(reparse(t, partial))
	assert.Equal(t, src, srs)
	psa := srs.ParticipantSessionAssocs[srs.findPSA(srs.Participants[2].ID, srs.Sessions[0].ID)]
	assert.Equal(t, t0.Add(time.Minute), psa.AssociateTime, "associate-time kept")
	assert.Equal(t, left, psa.DisassociateTime, "disassociate-time recorded")
	assert.False(t, srs.active(srs.Participants[2].ID, srs.Sessions[0].ID))

	// A party joining after someone left does not receive the departed stream.
	next := src.addParty(RecordingParty{AOR: "sip:7200@x", Label: "sup2"}, left.Add(time.Minute), seqIDs(300))
	mine := next.ParticipantStreamAssocs[len(next.ParticipantStreamAssocs)-1]
	assert.NotContains(t, mine.Recv, src.Streams[2].ID)
	assert.Len(t, mine.Recv, 2)
}

func TestMergeFromWireXML(t *testing.T) {
	snap := buildMetadata("s", twoParty(), callData(), t0, seqIDs(0))
	p0, s0, sess := snap.Participants[0].ID, snap.Streams[0].ID, snap.Sessions[0].ID
	update := `<?xml version="1.0"?>
<recording xmlns="` + Namespace + `" xmlns:gx="` + ExtNamespace + `" xmlns:v="urn:example:vendor">
  <datamode>partial</datamode>
  <session session_id="` + sess + `"><stop-time>2025-01-10T09:10:00Z</stop-time></session>
  <participant participant_id="` + p0 + `"><nameID aor="sip:+15551230000@carrier.example"><name xml:lang="en">Renamed</name></nameID>
    <v:tag>gold</v:tag></participant>
  <stream stream_id="` + s0 + `" session_id="` + sess + `"><label>a-leg-2</label></stream>
  <participantsessionassoc participant_id="` + p0 + `" session_id="` + sess + `">
    <disassociate-time>2025-01-10T09:10:00Z</disassociate-time></participantsessionassoc>
  <participantstreamassoc participant_id="` + p0 + `"><send>` + s0 + `</send></participantstreamassoc>
  <gx:callData><gx:agentID>agent43</gx:agentID><gx:prerecord>false</gx:prerecord><gx:continuation>true</gx:continuation>
    <gx:extra name="queue">5001</gx:extra></gx:callData>
</recording>`
	partial, err := ParseMetadata([]byte(update))
	require.NoError(t, err)
	require.Nil(t, partial.Warnings)

	snap.Merge(partial)
	assert.Equal(t, time.Date(2025, 1, 10, 9, 10, 0, 0, time.UTC), snap.Sessions[0].StopTime)
	assert.Equal(t, "s", snap.Sessions[0].SIPSessionID, "fields absent from the update stay")
	p := snap.Participants[0]
	assert.Equal(t, "sip:+15551230000@carrier.example", p.AOR)
	assert.Equal(t, "Renamed", p.Name)
	assert.Equal(t, "en", p.NameLang)
	assert.Equal(t, []string{s0}, p.Send)
	assert.Empty(t, p.Recv, "participantstreamassoc replaces the lists")
	assert.Equal(t, "a-leg-2", snap.Streams[0].Label)
	assert.Equal(t, t0, snap.ParticipantSessionAssocs[0].AssociateTime)
	assert.Equal(t, time.Date(2025, 1, 10, 9, 10, 0, 0, time.UTC), snap.ParticipantSessionAssocs[0].DisassociateTime)

	cd := snap.CallData
	assert.Equal(t, "agent43", cd.AgentID)
	assert.Equal(t, "01ABCD2EF3GH4", cd.CallUUID, "empty strings do not clear")
	assert.False(t, cd.Prerecord, "booleans overwrite")
	assert.True(t, cd.Continuation)
	assert.Equal(t, []string{"7001", "+15551230000"}, cd.DNs)
	assert.Equal(t, map[string]string{"GSIP_REC_FN": "rec-77.wav", "queue": "5001"}, cd.Extra)

	require.Len(t, snap.Extensions, 1)
	assert.Equal(t, "tag", snap.Extensions[0].Name)
	// A second update of the same extension replaces it.
	again, err := ParseMetadata([]byte(`<recording xmlns="` + Namespace + `" xmlns:v="urn:example:vendor"><datamode>partial</datamode>` +
		`<participant participant_id="` + p0 + `"><v:tag>platinum</v:tag></participant></recording>`))
	require.NoError(t, err)
	snap.Merge(again)
	require.Len(t, snap.Extensions, 1)
	assert.Equal(t, "platinum", string(snap.Extensions[0].Inner))
	assert.Equal(t, "Renamed", snap.Participants[0].Name, "participant without nameID keeps its name")

	out, err := snap.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(out), `<tag xmlns="urn:example:vendor">platinum</tag>`)
}

func TestMergeCompleteReplaces(t *testing.T) {
	a := buildMetadata("a", twoParty(), callData(), t0, seqIDs(0))
	b := buildMetadata("b", twoParty()[:1], CallData{}, t0, seqIDs(50))
	a.Merge(b)
	assert.Equal(t, b, a)
	b.Participants[0].AOR = "changed"
	assert.NotEqual(t, "changed", a.Participants[0].AOR, "Merge copies, it does not alias")

	before := a.Clone()
	a.Merge(nil)
	assert.Equal(t, before, a)
}

func TestMergeIntoEmptyAndNewElements(t *testing.T) {
	var m Metadata
	m.DataMode = DataModeComplete
	full := buildMetadata("s", twoParty(), callData(), t0, seqIDs(0))
	p := full.Clone()
	p.DataMode = DataModePartial
	m.Merge(p)
	full.DataMode = DataModeComplete
	assert.Equal(t, full, &m, "a partial naming everything builds the snapshot")
}

func TestAddPartyNeedsSession(t *testing.T) {
	m := &Metadata{DataMode: DataModeComplete}
	assert.Nil(t, m.AddParty(RecordingParty{AOR: "sip:a@b", Label: "x"}, t0))
	assert.Empty(t, m.Participants)
}

func TestCloneIsDeep(t *testing.T) {
	m := buildMetadata("s", twoParty(), callData(), t0, seqIDs(0))
	m.Extensions = []RawElement{{Parent: "recording", Space: "urn:x", Name: "e", Inner: []byte("a")}}
	c := m.Clone()
	require.Equal(t, m, c)
	c.Participants[0].Send[0] = "x"
	c.ParticipantStreamAssocs[0].Recv[0] = "x"
	c.CallData.DNs[0] = "x"
	c.CallData.Extra["queue"] = "x"
	c.Extensions[0].Inner[0] = 'x'
	assert.NotEqual(t, "x", m.Participants[0].Send[0])
	assert.NotEqual(t, "x", m.ParticipantStreamAssocs[0].Recv[0])
	assert.NotEqual(t, "x", m.CallData.DNs[0])
	assert.Equal(t, "5000", m.CallData.Extra["queue"])
	assert.Equal(t, byte('a'), m.Extensions[0].Inner[0])
	assert.Nil(t, (*Metadata)(nil).Clone())
}
