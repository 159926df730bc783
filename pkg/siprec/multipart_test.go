package siprec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testSDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0\r\na=label:a-leg\r\na=sendonly\r\nm=audio 40002 RTP/AVP 0\r\na=label:b-leg\r\na=sendonly\r\n"
	testXML = `<?xml version="1.0"?><recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode></recording>`
)

// mp builds a multipart body with the given line ending.
func mp(eol, boundary string, parts ...string) string {
	var sb strings.Builder
	for _, p := range parts {
		sb.WriteString("--" + boundary + eol + p + eol)
	}
	sb.WriteString("--" + boundary + "--" + eol)
	return sb.String()
}

func TestParseBody(t *testing.T) {
	sdpPart := func(eol string) string {
		return "Content-Type: application/sdp" + eol + eol + strings.ReplaceAll(strings.TrimSuffix(testSDP, "\r\n"), "\r\n", eol)
	}
	xmlPart := func(eol, ct string) string {
		return "Content-Type: " + ct + eol + "Content-Disposition: recording-session" + eol + eol + testXML
	}
	wantSDP := func(eol string) []byte {
		return []byte(strings.ReplaceAll(strings.TrimSuffix(testSDP, "\r\n"), "\r\n", eol))
	}
	tests := []struct {
		name      string
		ct        string
		body      string
		sdp       []byte
		metadata  string
		mtype     string
		parts     int
		warnings  []string
		wantErr   error
		wantBody  bool // with wantErr: the Body is returned too
		checkPart func(t *testing.T, b *Body)
	}{
		{
			name: "CRLF, bare boundary", ct: "multipart/mixed;boundary=rsb1",
			body: mp("\r\n", "rsb1", sdpPart("\r\n"), xmlPart("\r\n", ContentTypeMetadata)),
			sdp:  wantSDP("\r\n"), metadata: testXML, mtype: ContentTypeMetadata, parts: 2,
		},
		{
			name: "LF only, quoted boundary with spaces", ct: `multipart/mixed; boundary="my boundary 1"`,
			body: mp("\n", "my boundary 1", sdpPart("\n"), xmlPart("\n", ContentTypeMetadata)),
			sdp:  wantSDP("\n"), metadata: testXML, mtype: ContentTypeMetadata, parts: 2,
		},
		{
			name: "mixed line endings, preamble, epilogue, padding", ct: "multipart/mixed;boundary=b",
			body: "This is a preamble\r\n--b   \r\n" + sdpPart("\r\n") + "\n--b\t\n" + xmlPart("\n", ContentTypeMetadata) +
				"\r\n--b-- \r\nepilogue text\r\n--b\r\nignored",
			sdp: wantSDP("\r\n"), metadata: testXML, mtype: ContentTypeMetadata, parts: 2,
		},
		{
			name: "metadata first, legacy type, header case", ct: "Multipart/Mixed;Boundary=XyZ",
			body: mp("\r\n", "XyZ", "content-disposition: Recording-Session\r\ncontent-type: application/rs-metadata\r\n\r\n"+testXML,
				sdpPart("\r\n")),
			sdp: wantSDP("\r\n"), metadata: testXML, mtype: ContentTypeMetadataLegacy, parts: 2,
			warnings: []string{"metadata sent as application/rs-metadata (pre-RFC 9806 media type)"},
		},
		{
			name: "missing final boundary", ct: "multipart/mixed;boundary=b",
			body: "--b\r\n" + sdpPart("\r\n") + "\r\n--b\r\n" + xmlPart("\r\n", ContentTypeMetadata) + "\r\n",
			sdp:  wantSDP("\r\n"), metadata: testXML + "\r\n", mtype: ContentTypeMetadata, parts: 2,
			warnings: []string{"missing final boundary"},
		},
		{
			name: "boundary chars mime rejects unquoted", ct: "multipart/mixed;boundary=a/b=c?d",
			body: mp("\r\n", "a/b=c?d", sdpPart("\r\n")),
			sdp:  wantSDP("\r\n"), parts: 1,
			warnings: []string{`non-standard Content-Type "multipart/mixed;boundary=a/b=c?d"`},
		},
		{
			name: "parts without headers are sniffed", ct: "multipart/mixed;boundary=b",
			body: mp("\r\n", "b", strings.TrimSuffix(testSDP, "\r\n"), "\r\n"+testXML),
			sdp:  wantSDP("\r\n"), metadata: testXML, mtype: ContentTypeMetadata, parts: 2,
			warnings: []string{"part 1 has no headers", "part 1 has no Content-Type; sniffed application/sdp",
				"part 2 has no Content-Type; sniffed application/rs-metadata+xml"},
		},
		{
			name: "recording-session with an odd content type, folded header", ct: "multipart/mixed;boundary=b",
			body: mp("\r\n", "b", sdpPart("\r\n"),
				"Content-Type:application/ +xml\r\nContent-Disposition:\r\n recording-session\r\n\r\n"+testXML),
			sdp: wantSDP("\r\n"), metadata: testXML, mtype: "application/ +xml", parts: 2,
			warnings: []string{`part 2: recording-session part with Content-Type "application/ +xml" read as metadata`},
		},
		{
			name: "metadata without disposition, second SDP, extra part", ct: "multipart/mixed;boundary=b",
			body: mp("\r\n", "b", sdpPart("\r\n"), "Content-Type: application/rs-metadata+xml\r\nContent-Disposition: render\r\n\r\n"+testXML,
				sdpPart("\r\n"), "Content-Type: application/isup\r\n\r\n\x01\x02"),
			sdp: wantSDP("\r\n"), metadata: testXML, mtype: ContentTypeMetadata, parts: 4,
			warnings: []string{`metadata part with Content-Disposition "render"`, "part 3: second SDP ignored"},
			checkPart: func(t *testing.T, b *Body) {
				assert.Equal(t, "application/isup", b.Parts[3].ContentType)
				assert.Equal(t, []byte("\x01\x02"), b.Parts[3].Body)
				assert.Equal(t, "render", b.Parts[1].Disposition)
			},
		},
		{
			name: "multipart/related is read as mixed", ct: "multipart/related;boundary=b",
			body: mp("\r\n", "b", sdpPart("\r\n")),
			sdp:  wantSDP("\r\n"), parts: 1, warnings: []string{"body is multipart/related, read as multipart/mixed"},
		},
		{
			name: "plain SDP", ct: "application/sdp", body: testSDP,
			sdp: []byte(testSDP), parts: 1,
		},
		{
			name: "no Content-Type, SDP sniffed", ct: "", body: testSDP,
			sdp: []byte(testSDP), parts: 1, warnings: []string{"no Content-Type; body sniffed"},
		},
		{
			name: "metadata-only update", ct: "application/rs-metadata+xml", body: testXML,
			metadata: testXML, mtype: ContentTypeMetadata, parts: 1, wantErr: ErrNoSDP, wantBody: true,
		},
		{
			name: "multipart with metadata only", ct: "multipart/mixed;boundary=b",
			body:     mp("\r\n", "b", xmlPart("\r\n", ContentTypeMetadata)),
			metadata: testXML, mtype: ContentTypeMetadata, parts: 1, wantErr: ErrNoSDP, wantBody: true,
		},
		{name: "empty body", ct: "", body: "", wantErr: ErrNoSDP},
		{name: "empty SDP", ct: "application/sdp", body: "\r\n", wantErr: ErrNoSDP},
		{name: "unrelated type", ct: "text/plain", body: "hello", wantErr: ErrNoSDP},
		{name: "multipart without boundary", ct: "multipart/mixed", body: "--x\r\n", wantErr: ErrMalformed},
		{name: "boundary never found", ct: "multipart/mixed;boundary=zz", body: mp("\r\n", "yy", sdpPart("\r\n")), wantErr: ErrMalformed},
		{name: "boundary prefix is not a delimiter", ct: "multipart/mixed;boundary=b", body: "--bx\r\n" + sdpPart("\r\n"), wantErr: ErrMalformed},
		{
			name: "too many parts", ct: "multipart/mixed;boundary=b",
			body: mp("\r\n", "b", strings.Split(strings.Repeat("Content-Type: text/plain\r\n\r\nx,", maxParts+1), ",")...), wantErr: ErrMalformed,
		},
		{name: "too large", ct: "application/sdp", body: strings.Repeat("a", MaxBodySize+1), wantErr: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBody(tc.ct, []byte(tc.body))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				if !tc.wantBody {
					assert.Nil(t, b)
					return
				}
				require.NotNil(t, b)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.sdp, b.SDP)
			if tc.metadata == "" {
				assert.Nil(t, b.Metadata)
			} else {
				assert.Equal(t, tc.metadata, string(b.Metadata))
			}
			assert.Equal(t, tc.mtype, b.MetadataType)
			assert.Len(t, b.Parts, tc.parts)
			assert.Equal(t, tc.warnings, b.Warnings)
			if tc.checkPart != nil {
				tc.checkPart(t, b)
			}
		})
	}
}

func TestBuildBodyRoundTrip(t *testing.T) {
	m := buildMetadata("s", twoParty(), callData(), t0, seqIDs(0))
	xmlDoc, err := m.Marshal()
	require.NoError(t, err)
	ct, body := BuildBody([]byte(testSDP), xmlDoc)
	require.True(t, strings.HasPrefix(ct, "multipart/mixed;boundary=arlab-"), ct)
	boundary := strings.TrimPrefix(ct, "multipart/mixed;boundary=")
	assert.True(t, bytes.HasPrefix(body, []byte("--"+boundary+"\r\nContent-Type: application/sdp\r\n\r\n")), "SDP part first")
	assert.Contains(t, string(body), "Content-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n")
	assert.True(t, bytes.HasSuffix(body, []byte("\r\n--"+boundary+"--\r\n")))

	got, err := ParseBody(ct, body)
	require.NoError(t, err)
	assert.Nil(t, got.Warnings)
	assert.Equal(t, []byte(testSDP), got.SDP, "parts come back byte for byte")
	assert.Equal(t, xmlDoc, got.Metadata)
	assert.Equal(t, ContentTypeMetadata, got.MetadataType)
	back, err := ParseMetadata(got.Metadata)
	require.NoError(t, err)
	assert.Equal(t, m, back)
	assert.Nil(t, CheckLabels(back, SDPLabels(got.SDP)), "labels line up")

	ct2, _ := BuildBody([]byte(testSDP), xmlDoc)
	assert.NotEqual(t, ct, ct2, "boundaries are random")

	ct, body = BuildBody([]byte(testSDP), nil)
	assert.Equal(t, ContentTypeSDP, ct)
	assert.Equal(t, []byte(testSDP), body)

	ct, body = BuildBody(nil, xmlDoc)
	got, err = ParseBody(ct, body)
	require.ErrorIs(t, err, ErrNoSDP)
	assert.Equal(t, xmlDoc, got.Metadata, "metadata-only body still parses")
}

func TestSDPLabelsAndCheckLabels(t *testing.T) {
	assert.Equal(t, []string{"a-leg", "b-leg"}, SDPLabels([]byte(testSDP)))
	assert.Equal(t, []string{"", "x"}, SDPLabels([]byte("v=0\nm=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\na=label: x \n")))
	assert.Nil(t, SDPLabels([]byte("a=label:orphan\n")))

	m := buildMetadata("s", twoParty(), CallData{}, t0, seqIDs(0))
	assert.Nil(t, CheckLabels(m, []string{"a-leg", "b-leg"}))
	assert.Equal(t, []string{
		"m-line 1 has no a=label",
		"a=label:zz (m-line 2) has no <stream> in the metadata",
		"a=label:zz appears on more than one m-line",
		`stream "pwAAAAAAAAAAAAAAAAAABA==" label "a-leg" has no m-line in the SDP`,
		`stream "pwAAAAAAAAAAAAAAAAAABg==" label "b-leg" has no m-line in the SDP`,
	}, CheckLabels(m, []string{"", "zz", "zz"}))
	m.DataMode = DataModePartial
	assert.Nil(t, CheckLabels(m, []string{"a-leg"}), "a partial update need not name every stream")

	_, _, ok := m.StreamForLabel("")
	assert.False(t, ok)
	_, _, ok = m.StreamForLabel("nope")
	assert.False(t, ok)
}

func ExampleBuildBody() {
	m := BuildMetadata("ab12cd34;remote=ef56ab78", []RecordingParty{
		{AOR: "sip:+15551230000@carrier.example", Label: "a-leg"},
		{AOR: "sip:7001@sipserver.example", Label: "b-leg"},
	}, CallData{CallUUID: "01ABCD"}, t0)
	xmlDoc, _ := m.Marshal()
	ct, body := BuildBody([]byte(testSDP), xmlDoc)

	// The recorder's side.
	b, _ := ParseBody(ct, body)
	got, _ := ParseMetadata(b.Metadata)
	for _, label := range SDPLabels(b.SDP) {
		_, senders, _ := got.StreamForLabel(label)
		fmt.Println(label, senders[0].AOR)
	}
	fmt.Println(got.CallUUID(), got.Warnings == nil)
	// Output:
	// a-leg sip:+15551230000@carrier.example
	// b-leg sip:7001@sipserver.example
	// 01ABCD true
}
