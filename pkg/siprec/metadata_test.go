package siprec

import (
	"encoding/base64"
	"encoding/binary"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seqIDs returns a deterministic id source: base64 of 16-byte counters.
func seqIDs(seed uint64) func() string {
	n := seed
	return func() string {
		n++
		var b [16]byte
		binary.BigEndian.PutUint64(b[8:], n)
		b[0] = 0xA7 // keep ids visibly distinct from each other in goldens
		return base64.StdEncoding.EncodeToString(b[:])
	}
}

var t0 = time.Date(2025, 1, 10, 9, 0, 1, 0, time.UTC)

func twoParty() []RecordingParty {
	return []RecordingParty{
		{AOR: "sip:+15551230000@ims.mnc001.mcc001.3gppnetwork.org;user=phone", Name: "Customer <VIP> & Co", Label: "a-leg"},
		{AOR: "sip:7001@sipserver.example", Name: "Agent 7001", Label: "b-leg"},
	}
}

func callData() CallData {
	return CallData{
		CallUUID: "01ABCD2EF3GH4", ConnID: "007102719818001f", RecordDN: "7001",
		OtherDN: "+15551230000", AgentID: "agent42", RecordingID: "rec-77",
		Prerecord: true, DNs: []string{"7001", "+15551230000"},
		Extra: map[string]string{"GSIP_REC_FN": "rec-77.wav", "queue": "5000"},
	}
}

// goldenCases builds every document arlab's SRC emits.
func goldenCases() map[string]*Metadata {
	full := buildMetadata("ab12cd34ab12cd34ab12cd34ab12cd34;remote=ef56ab78ef56ab78ef56ab78ef56ab78",
		twoParty(), callData(), t0, seqIDs(0))
	join := full.Clone()
	joinPartial := join.addParty(RecordingParty{AOR: "sip:7100@sipserver.example", Name: "Supervisor", Label: "sup"},
		t0.Add(90*time.Second), seqIDs(100))
	leave := join.Clone()
	leavePartial := leave.RemoveParty(leave.Participants[2].ID, t0.Add(150*time.Second))
	three := buildMetadata("0123456789abcdef0123456789abcdef", []RecordingParty{
		{AOR: "tel:+15551230000", Label: "1"},
		{AOR: "sips:7002@sipserver.example", Name: "Agent", Label: "2"},
		{AOR: "sip:7003@sipserver.example", Label: "3"},
	}, CallData{}, t0, seqIDs(200))
	return map[string]*Metadata{
		"two_party_calldata":      full,
		"three_party_no_calldata": three,
		"partial_supervisor_join": joinPartial,
		"partial_party_leaves":    leavePartial,
		"after_join":              join,
	}
}

func TestGoldenMetadata(t *testing.T) {
	for name, m := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			require.Nil(t, m.Validate(), "our own output must validate clean")
			got, err := m.Marshal()
			require.NoError(t, err)
			path := filepath.Join("testdata", "golden", name+".xml")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./pkg/siprec -args -update")
			assert.Equal(t, string(want), string(got))

			back, err := ParseMetadata(got)
			require.NoError(t, err)
			assert.Nil(t, back.Warnings, "parsing our output must not warn")
			assert.Equal(t, m, back, "Marshal/ParseMetadata round trip")
		})
	}
}

// TestGoldenSchemaValid validates the goldens against the RFC 7865 schema
// (testdata/schema) with xmllint, including the lax-validated extension.
func TestGoldenSchemaValid(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed; skipping XSD validation of the goldens")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema",
			filepath.Join("testdata", "schema", "validate.xsd"), f).CombinedOutput()
		assert.NoError(t, err, "%s: %s", f, out)
	}
	// The schema must be able to fail: a document with a bad datamode and a
	// non-base64 id is rejected.
	bad := filepath.Join(t.TempDir(), "bad.xml")
	require.NoError(t, os.WriteFile(bad, []byte(`<recording xmlns="`+Namespace+`"><datamode>sometimes</datamode>`+
		`<participant participant_id="not base64!"/></recording>`), 0o644))
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema",
		filepath.Join("testdata", "schema", "validate.xsd"), bad).CombinedOutput()
	require.Error(t, err, "%s", out)
}

func TestBuildMetadataShape(t *testing.T) {
	m := BuildMetadata("sess-1", twoParty(), CallData{}, t0)
	require.Len(t, m.Groups, 1)
	require.Len(t, m.Sessions, 1)
	require.Len(t, m.Participants, 2)
	require.Len(t, m.Streams, 2)
	assert.Nil(t, m.CallData, "empty call data is left out")
	assert.Equal(t, m.Groups[0].ID, m.Sessions[0].GroupRef)
	assert.Equal(t, "sess-1", m.Sessions[0].SIPSessionID)
	for i, p := range m.Participants {
		assert.Equal(t, []string{m.Streams[i].ID}, p.Send)
		assert.Equal(t, []string{m.Streams[1-i].ID}, p.Recv)
		assert.Equal(t, twoParty()[i].Label, m.Streams[i].Label)
		id, err := base64.StdEncoding.DecodeString(p.ID)
		require.NoError(t, err)
		require.Len(t, id, 16)
		assert.Equal(t, byte(0x40), id[6]&0xf0, "UUID version 4")
		assert.Equal(t, byte(0x80), id[8]&0xc0, "RFC 4122 variant")
	}
	assert.Nil(t, m.Validate())
	assert.NotEqual(t, NewID(), NewID())

	// A party without a label is reported, not silently accepted.
	bad := BuildMetadata("s", []RecordingParty{{AOR: "sip:a@b"}}, CallData{}, t0)
	assert.Contains(t, bad.Validate(), `stream "`+bad.Streams[0].ID+`" has no label`)
}

func TestParseMetadataErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"whitespace", "  \n ", ErrMalformed},
		{"not xml", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n", ErrMalformed},
		{"wrong root", `<foo xmlns="` + Namespace + `"/>`, ErrMalformed},
		{"unclosed", `<recording xmlns="` + Namespace + `"><participant participant_id="AA==">`, ErrMalformed},
		{"mismatched tags", `<recording><group></session></recording>`, ErrMalformed},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE recording><recording/>`, ErrEntity},
		{"entity declaration", `<!DOCTYPE r [<!ENTITY x "yyyy">]><recording>&x;</recording>`, ErrEntity},
		{"external entity", `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><recording>&x;</recording>`, ErrEntity},
		{"billion laughs", `<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><recording>&b;</recording>`, ErrEntity},
		{"undeclared entity", `<recording><datamode>&bogus;</datamode></recording>`, ErrMalformed},
		{"doctype after root", `<recording/><!DOCTYPE x>`, ErrEntity},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC-US"?><recording/>`, ErrMalformed},
		{"too large", `<recording>` + strings.Repeat(" ", MaxMetadataSize) + `</recording>`, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(tc.in))
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, m)
		})
	}
}

func TestParseMetadataTolerance(t *testing.T) {
	const ns = `xmlns="` + Namespace + `"`
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, m *Metadata)
		warns []string
	}{
		{
			name: "no namespace, no datamode",
			in:   `<recording><session session_id="c2Vz"/></recording>`,
			check: func(t *testing.T, m *Metadata) {
				assert.Equal(t, DataModeComplete, m.DataMode)
				assert.Equal(t, "c2Vz", m.Sessions[0].ID)
			},
			warns: []string{"no namespace on <recording>", "no <datamode>; assuming complete"},
		},
		{
			name: "BOM, Latin-1 document",
			in: "\xEF\xBB\xBF" + `<?xml version="1.0" encoding="ISO-8859-1"?><recording ` + ns + `><datamode>complete</datamode>` +
				`<participant participant_id="cDE="><nameID aor="sip:j@x"><name>Jos` + "\xE9" + `</name></nameID></participant></recording>`,
			check: func(t *testing.T, m *Metadata) { assert.Equal(t, "José", m.Participants[0].Name) },
			warns: []string{`document declared "ISO-8859-1": converted from Latin-1`},
		},
		{
			name: "times: zone-less, +0300, fractional, garbage",
			in: `<recording ` + ns + `><datamode>partial</datamode><session session_id="czE=">` +
				`<start-time>2024-02-03T10:15:20</start-time><stop-time>2024-02-03T14:00:00.5+0300</stop-time></session>` +
				`<group group_id="ZzE="><associate-time>yesterday</associate-time></group></recording>`,
			check: func(t *testing.T, m *Metadata) {
				assert.Equal(t, time.Date(2024, 2, 3, 10, 15, 20, 0, time.UTC), m.Sessions[0].StartTime)
				assert.Equal(t, time.Date(2024, 2, 3, 11, 0, 0, 5e8, time.UTC), m.Sessions[0].StopTime)
				assert.True(t, m.Groups[0].AssociateTime.IsZero())
			},
			warns: []string{
				`<start-time>: time "2024-02-03T10:15:20" has no zone; assumed UTC`,
				`<associate-time>: unreadable time "yesterday"`,
			},
		},
		{
			name: "unknown datamode and text after root",
			in:   `<recording ` + ns + `><datamode>Sometimes</datamode></recording> trailing`,
			check: func(t *testing.T, m *Metadata) {
				assert.Equal(t, "sometimes", m.DataMode)
			},
			warns: []string{"text after the root element ignored", `unknown datamode "sometimes"`},
		},
		{
			name: "draft-ram root and namespace",
			in:   `<recording_metadata xmlns="urn:ietf:params:xml:ns:siprec"><dataMode>complete</dataMode></recording_metadata>`,
			check: func(t *testing.T, m *Metadata) {
				assert.Equal(t, DataModeComplete, m.DataMode)
			},
			warns: []string{"draft-era root element <recording_metadata>", `draft-era namespace "urn:ietf:params:xml:ns:siprec"`,
				"element <dataMode> read as <datamode>"},
		},
		{
			name: "ids missing, second sipSessionID and nameID, foreign callData is an extension",
			in: `<recording ` + ns + `><datamode>complete</datamode><session><sipSessionID>a</sipSessionID><sipSessionID>b</sipSessionID></session>` +
				`<participant participant_id="cDE="><nameID aor="sip:a@x"/><nameID aor="sip:b@x"/></participant>` +
				`<callData xmlns="urn:ietf:params:xml:ns:callData"><gcid>1</gcid></callData></recording>`,
			check: func(t *testing.T, m *Metadata) {
				assert.Equal(t, "a", m.Sessions[0].SIPSessionID)
				assert.Equal(t, "sip:a@x", m.Participants[0].AOR)
				assert.Nil(t, m.CallData)
				require.Len(t, m.Extensions, 2)
				assert.Equal(t, "nameID", m.Extensions[0].Name)
				assert.Equal(t, "callData", m.Extensions[1].Name)
				assert.Equal(t, "<gcid>1</gcid>", string(m.Extensions[1].Inner))
			},
			warns: []string{"<session> without session_id", `session "": more than one <sipSessionID>; the first is kept`,
				`participant "cDE=": more than one <nameID>; the first is kept`, "session without id"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(tc.in))
			require.NoError(t, err)
			tc.check(t, m)
			assert.Equal(t, tc.warns, m.Warnings)
		})
	}
}

func TestCallDataRoundTrip(t *testing.T) {
	m := &Metadata{DataMode: DataModePartial, CallData: &CallData{
		CallUUID: "U", Continuation: true, Extra: map[string]string{"a b": `x"<y>`},
	}}
	b, err := m.Marshal()
	require.NoError(t, err)
	back, err := ParseMetadata(b)
	require.NoError(t, err)
	assert.Equal(t, m.CallData, back.CallData)
	assert.Equal(t, "U", back.CallUUID())
}

func TestMarshalRefusesMissingIDs(t *testing.T) {
	for _, m := range []*Metadata{
		{Groups: []Group{{}}},
		{Sessions: []Session{{}}},
		{Participants: []Participant{{AOR: "sip:a@b"}}},
		{Streams: []Stream{{ID: "AA=="}}},
		{SessionRecordingAssocs: []SessionRecordingAssoc{{}}},
		{ParticipantSessionAssocs: []ParticipantSessionAssoc{{ParticipantID: "AA=="}}},
		{ParticipantStreamAssocs: []ParticipantStreamAssoc{{Send: []string{"AA=="}}}},
	} {
		_, err := m.Marshal()
		require.ErrorIs(t, err, ErrInvalid, "%+v", m)
	}
}

func TestValidate(t *testing.T) {
	base := func() *Metadata {
		return buildMetadata("s", twoParty(), CallData{}, t0, seqIDs(0))
	}
	tests := []struct {
		name   string
		mutate func(m *Metadata)
		want   []string
	}{
		{"clean", func(*Metadata) {}, nil},
		{"unknown datamode", func(m *Metadata) { m.DataMode = "full" }, []string{`unknown datamode "full"`}},
		{"duplicate and non-base64 ids", func(m *Metadata) {
			m.Participants[1].ID = m.Participants[0].ID
			m.Groups[0].ID = "g-1"
			m.Sessions[0].GroupRef = "g-1"
		}, []string{
			`group id "g-1" is not base64`,
			`duplicate participant id "pwAAAAAAAAAAAAAAAAAAAw=="`,
			`participantsessionassoc names unknown participant "pwAAAAAAAAAAAAAAAAAABQ=="`,
			`participantstreamassoc names unknown participant "pwAAAAAAAAAAAAAAAAAABQ=="`,
		}},
		{"missing and duplicate labels", func(m *Metadata) {
			m.Streams[0].Label = ""
			m.Streams = append(m.Streams, Stream{ID: "c3Qz", SessionID: m.Sessions[0].ID, Label: "b-leg"})
		}, []string{
			`stream "pwAAAAAAAAAAAAAAAAAABA==" has no label`,
			`label "b-leg" is used by streams "pwAAAAAAAAAAAAAAAAAABg==" and "c3Qz"`,
			`stream "c3Qz" (label "b-leg") has no sending participant`,
		}},
		{"dangling references", func(m *Metadata) {
			m.Sessions[0].GroupRef = "Z2c="
			m.Streams[0].SessionID = "c3M="
			m.SessionRecordingAssocs[0].SessionID = "c3M="
			m.ParticipantSessionAssocs[0].SessionID = "c3M="
			m.ParticipantStreamAssocs[0].Recv = []string{"bm9wZQ=="}
		}, []string{
			`session "pwAAAAAAAAAAAAAAAAAAAg==": group-ref "Z2c=" names no group`,
			`stream "pwAAAAAAAAAAAAAAAAAABA==": session_id "c3M=" names no session`,
			`sessionrecordingassoc names unknown session "c3M="`,
			`participantsessionassoc names unknown session "c3M="`,
			`participant "pwAAAAAAAAAAAAAAAAAAAw==" receives unknown stream "bm9wZQ=="`,
		}},
		{"dangling references are fine in a partial update", func(m *Metadata) {
			m.DataMode = DataModePartial
			m.Sessions[0].GroupRef = "Z2c="
			m.ParticipantStreamAssocs[0].Recv = []string{"bm9wZQ=="}
		}, nil},
		{"participant without aor or streams, mixed stream", func(m *Metadata) {
			m.Participants[0].AOR = ""
			m.ParticipantStreamAssocs[1].Send = append(m.ParticipantStreamAssocs[1].Send, m.Streams[0].ID)
			m.Participants = append(m.Participants, Participant{ID: "cDM=", AOR: "sip:x@y"})
		}, []string{
			`participant "pwAAAAAAAAAAAAAAAAAAAw==" has no aor`,
			`participant "cDM=" has no stream association`,
			`stream "pwAAAAAAAAAAAAAAAAAABA==" (label "a-leg") is sent by 2 participants (mixed)`,
		}},
		{"times out of order", func(m *Metadata) {
			m.ParticipantSessionAssocs[0].DisassociateTime = t0.Add(-time.Second)
			m.Sessions[0].StopTime = t0.Add(-time.Second)
			m.Groups[0].DisassociateTime = t0.Add(-time.Second)
		}, []string{
			`participantsessionassoc "pwAAAAAAAAAAAAAAAAAAAw=="/"pwAAAAAAAAAAAAAAAAAAAg==": disassociate-time before associate-time`,
			`group "pwAAAAAAAAAAAAAAAAAAAQ==": disassociate-time before associate-time`,
			`session "pwAAAAAAAAAAAAAAAAAAAg==": stop-time before start-time`,
		}},
		{"empty ids", func(m *Metadata) { m.Streams[1].ID = "" }, []string{
			"stream without id",
			`participant "pwAAAAAAAAAAAAAAAAAAAw==" receives unknown stream "pwAAAAAAAAAAAAAAAAAABg=="`,
			`participant "pwAAAAAAAAAAAAAAAAAABQ==" sends unknown stream "pwAAAAAAAAAAAAAAAAAABg=="`,
			`stream "" (label "b-leg") has no sending participant`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.mutate(m)
			assert.Equal(t, tc.want, m.Validate())
		})
	}
}
