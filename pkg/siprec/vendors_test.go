package siprec

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitSIP returns the Content-Type header value and the body of a raw SIP
// message (LF or CRLF).
func splitSIP(t testing.TB, raw []byte) (string, []byte) {
	t.Helper()
	i, n := bytes.Index(raw, []byte("\r\n\r\n")), 4
	if j := bytes.Index(raw, []byte("\n\n")); i < 0 || (j >= 0 && j < i) {
		i, n = j, 2
	}
	require.GreaterOrEqual(t, i, 0, "no header/body separator")
	ct := ""
	for _, l := range bytes.Split(raw[:i], []byte("\n")) {
		name, value, ok := bytes.Cut(l, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(name)), "content-type") {
			ct = string(bytes.TrimSpace(value))
		}
	}
	require.NotEmpty(t, ct)
	return ct, raw[i+n:]
}

type wantParty struct {
	AOR, Name  string
	SendLabels []string
}

type vendorCase struct {
	file          string
	metadataType  string
	parts         int
	sdpLabels     []string
	parties       []wantParty
	streamLabels  []string
	psas          int
	callUUID      string
	extensions    []string // parent/{space}name
	bodyWarnings  []string
	warnings      []string
	labelWarnings []string
}

var vendorCases = []vendorCase{
	{
		file: "oracle_acme_sbc.txt", metadataType: ContentTypeMetadata, parts: 2,
		sdpLabels: []string{"16777301", "16777302"},
		parties: []wantParty{
			{"sip:+15551230001@carrier.example.com", "+15551230001", []string{"16777301"}},
			{"sip:7001@pbx.example.com", "7001", []string{"16777302"}},
		},
		streamLabels: []string{"16777301", "16777302"}, psas: 2,
		extensions: []string{
			"participant/{urn:ietf:params:xml:ns:recording}extensiondata",
			"participant/{urn:ietf:params:xml:ns:recording}extensiondata",
			"stream/{urn:ietf:params:xml:ns:recording}mode",
			"stream/{urn:ietf:params:xml:ns:recording}associate-time",
			"stream/{urn:ietf:params:xml:ns:recording}mode",
			"stream/{urn:ietf:params:xml:ns:recording}associate-time",
		},
		warnings: []string{
			`draft-era namespace "urn:ietf:params:xml:ns:recording"`,
			`draft-era attribute "id" on <session>`,
			"draft-era <associate-time> inside <session>",
			`<associate-time>: time "2024-02-03T10:15:20" has no zone; assumed UTC`,
			`draft-era attribute "id" on <participant>`,
			`draft-era attribute "session" on <participant>`,
			"draft-era <send> inside <participant>",
			"draft-era <associate-time> inside <participant>",
			`draft-era attribute "id" on <stream>`,
			`draft-era attribute "session" on <stream>`,
		},
	},
	{
		file: "audiocodes_sbc_legacy.txt", metadataType: ContentTypeMetadataLegacy, parts: 2,
		sdpLabels: []string{"1", "2"},
		parties: []wantParty{
			{"+15551234567@198.51.100.1;user=phone", "", []string{"1"}},
			{"7002@198.51.100.7", "", []string{"2"}},
		},
		streamLabels: []string{"1", "2"}, psas: 2,
		callUUID:     "01ABCDEF2GH3JK4LMN5PQ6RS7T",
		extensions:   []string{"session/{urn:ietf:params:xml:ns:Genesys}GenesysUUID"},
		bodyWarnings: []string{"metadata sent as application/rs-metadata (pre-RFC 9806 media type)"},
		warnings: []string{
			`draft-era namespace "urn:ietf:params:xml:ns:recording"`,
			"element <dataMode> read as <datamode>",
			`draft-era attribute "id" on <group>`,
			`draft-era attribute "id" on <session>`,
			`undeclared prefix "ac" on <GenesysUUID>`,
			`draft-era attribute "id" on <participant>`,
			`draft-era attribute "session" on <participant>`,
			"draft-era <associate-time> inside <participant>",
			"draft-era <send> inside <participant>",
			"draft-era <recv> inside <participant>",
			`draft-era attribute "id" on <stream>`,
			`draft-era attribute "session" on <stream>`,
			`group id "00000000-0000-0000-0000-00004c5d6e7f" is not base64`,
			`session id "0000-0000-0000-0000-0000000011aa22bb" is not base64`,
			`stream id "00000000-0000-0000-0000-1A2B4C5D6E7F" is not base64`,
			`stream id "00000000-0000-0000-0000-9A8B4C5D6E7F" is not base64`,
		},
	},
	{
		file: "cisco_cube.txt", metadataType: ContentTypeMetadata, parts: 3,
		sdpLabels: []string{"1", "2"},
		parties: []wantParty{
			{"sip:4085550111@203.0.113.9", "", []string{"1"}},
			{"sip:2001@cucm.example.org", "Agent 2001", []string{"2"}},
		},
		streamLabels: []string{"1", "2"}, psas: 2,
	},
	{
		file: "broadworks_ims.txt", metadataType: ContentTypeMetadata, parts: 2,
		sdpLabels: []string{"10", "20"},
		parties: []wantParty{
			{"sip:+15551234567@ims.mnc001.mcc001.3gppnetwork.org;user=phone", "", []string{"10"}},
			{"sip:+15557654321@as.broadworks.example.com;user=phone", "", []string{"20"}},
		},
		streamLabels: []string{"10", "20"}, psas: 2,
		warnings: []string{
			"element <dataMode> read as <datamode>",
			`session id "00FA0811223344556677AB" is not base64`,
		},
	},
	{
		file: "metaswitch_mixed.txt", metadataType: ContentTypeMetadataLegacy, parts: 2,
		sdpLabels: []string{"1"},
		parties: []wantParty{
			{"7602920001", "7602920001", []string{"1"}},
			{"7603213214", "7603213214", []string{"1"}},
		},
		streamLabels: []string{"1"}, psas: 2,
		extensions:   []string{"recording/{urn:ietf:params:xml:ns:recording}extensiondata"},
		bodyWarnings: []string{"metadata sent as application/rs-metadata (pre-RFC 9806 media type)"},
		warnings: []string{
			`draft-era namespace "urn:ietf:params:xml:ns:recording"`,
			`draft-era attribute "id" on <stream>`,
			`stream "Hk3LoOHcEea+seyezQV3BA==" (label "1") is sent by 2 participants (mixed)`,
		},
	},
	{
		file: "avaya_sbce.txt", metadataType: ContentTypeMetadata, parts: 2,
		sdpLabels: []string{"10", "20"},
		parties: []wantParty{
			{"tel:+15551234567", "", []string{"10"}},
			{"sip:5001@cm.example.com", "", []string{"20"}},
		},
		streamLabels: []string{"10", "20"}, psas: 2,
		extensions: []string{"session/{http://avaya.com/siprec/ucid}ucid"},
		warnings: []string{
			"element <dataMode> read as <datamode>",
			`<associate-time>: time "2024-01-22T15:57:37" has no zone; assumed UTC`,
		},
	},
	{
		file: "freeswitch_mod_siprec.txt", metadataType: ContentTypeMetadata, parts: 2,
		sdpLabels: []string{""},
		parties: []wantParty{
			{"sip:+15550001111@trunk.example.com", "Customer", []string{""}},
			{"sip:1005@pbx.example.com", "", nil},
		},
		streamLabels: []string{""}, psas: 2,
		warnings: []string{
			`stream "Z3XhT5dSTUeyV0mH6J1xwg==" has no label`,
			`participant "xa9c2Z1FRe2v7CkqgXo4pA==" has no stream association`,
		},
		labelWarnings: []string{"m-line 1 has no a=label"},
	},
	{
		file: "opensips_custom.txt", metadataType: ContentTypeMetadata, parts: 2,
		sdpLabels: []string{"0", "1"},
		parties: []wantParty{
			{"sip:caller@203.0.113.77", "Alice Caller", nil},
			{"sip:queue-support@192.0.2.5", "Support Queue", nil},
		},
		psas: 2,
		extensions: []string{
			"group/{urn:example:opensips:cc}account",
			"participant/{urn:example:opensips:cc}role",
			"participant/{urn:example:opensips:cc}role",
		},
		labelWarnings: []string{
			"a=label:0 (m-line 1) has no <stream> in the metadata",
			"a=label:1 (m-line 2) has no <stream> in the metadata",
		},
	},
	{
		file: "sonus_ribbon.txt", metadataType: ContentTypeMetadata, parts: 2,
		sdpLabels: []string{"1", "2"},
		parties: []wantParty{
			{"2249888500@192.0.2.198", "Extension 8500", []string{"2"}},
			{"2249888012@192.0.2.195", "", []string{"1"}},
		},
		streamLabels: []string{"1", "2"}, psas: 2,
		extensions:   []string{"group/{urn:ietf:params:xml:ns:callData}callData"},
		bodyWarnings: []string{"missing final boundary"},
		warnings:     []string{`draft-era namespace "urn:ietf:params:xml:ns:recording"`},
	},
}

func TestVendorCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "vendors", "*.txt"))
	require.NoError(t, err)
	require.Len(t, files, len(vendorCases), "every corpus file has a table entry")
	for _, tc := range vendorCases {
		t.Run(strings.TrimSuffix(tc.file, ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "vendors", tc.file))
			require.NoError(t, err)
			ct, rawBody := splitSIP(t, raw)

			body, err := ParseBody(ct, rawBody)
			require.NoError(t, err)
			assert.Len(t, body.Parts, tc.parts)
			assert.Equal(t, tc.metadataType, body.MetadataType)
			assert.Equal(t, tc.bodyWarnings, body.Warnings)
			assert.True(t, bytes.HasPrefix(bytes.TrimSpace(body.SDP), []byte("v=0")), "SDP part found")
			labels := SDPLabels(body.SDP)
			assert.Equal(t, tc.sdpLabels, labels)

			m, err := ParseMetadata(body.Metadata)
			require.NoError(t, err)
			assert.Equal(t, DataModeComplete, m.DataMode)
			assert.Equal(t, tc.warnings, m.Warnings)
			assert.Equal(t, tc.parties, parties(m))
			assert.Equal(t, tc.streamLabels, streamLabels(m))
			assert.Len(t, m.ParticipantSessionAssocs, tc.psas)
			assert.Equal(t, tc.callUUID, m.CallUUID())
			assert.Nil(t, m.CallData, "only arlab's namespace fills CallData")
			assert.Equal(t, tc.extensions, extensionNames(m))
			assert.Equal(t, tc.labelWarnings, CheckLabels(m, labels))

			// What the recorder stores: our RFC 7865 rendering of it. The
			// draft-era forms are gone and the content survives.
			out, err := m.Marshal()
			require.NoError(t, err)
			back, err := ParseMetadata(out)
			require.NoError(t, err)
			for _, w := range back.Warnings {
				assert.NotContains(t, w, "draft-era", "Marshal writes RFC 7865 forms")
			}
			assert.Equal(t, tc.parties, parties(back))
			assert.Equal(t, tc.streamLabels, streamLabels(back))
			assert.Equal(t, tc.callUUID, back.CallUUID())
		})
	}
}

func parties(m *Metadata) []wantParty {
	var out []wantParty
	for _, p := range m.Participants {
		w := wantParty{AOR: p.AOR, Name: p.Name}
		for _, id := range p.Send {
			for _, s := range m.Streams {
				if s.ID == id {
					w.SendLabels = append(w.SendLabels, s.Label)
				}
			}
		}
		out = append(out, w)
	}
	return out
}

func streamLabels(m *Metadata) []string {
	var out []string
	for _, s := range m.Streams {
		out = append(out, s.Label)
	}
	return out
}

func extensionNames(m *Metadata) []string {
	var out []string
	for _, e := range m.Extensions {
		out = append(out, e.Parent+"/{"+e.Space+"}"+e.Name)
	}
	return out
}
