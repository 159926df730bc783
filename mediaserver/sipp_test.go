package mediaserver

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/realpeer"
	"github.com/arlab/arlab/pkg/sdp"
)

// sippSRS answers one SIPREC INVITE over TCP with two recvonly streams, logs
// every message exactly as received (-trace_msg), and waits for the BYE.
const sippSRS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="arlab third-party SRS">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:srs@[local_ip]:[local_port];transport=[transport]>;+sip.srs
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=srs 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=recvonly
      m=audio [media_port] RTP/AVP 0
      a=recvonly
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
`

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSippSRSReceivesRFC7865 has sipp play a third-party SRS. The INVITE it
// logged is checked against RFC 7866/7865 as written, by code that shares
// nothing with pkg/siprec (a plain encoding/xml walk), and for
// well-formedness by xmllint.
func TestSippSRSReceivesRFC7865(t *testing.T) {
	realpeer.Need(t, "sipp")
	xmllint := realpeer.Need(t, "xmllint")
	dir := t.TempDir()
	scen := filepath.Join(dir, "srs.xml")
	require.NoError(t, os.WriteFile(scen, []byte(sippSRS), 0o644))
	logFile := filepath.Join(dir, "invite.log")
	port := freeTCPPort(t)
	args := append([]string{"-sf", scen, "-t", "t1", "-m", "1", "-trace_msg", "-message_file", logFile,
		"-mp", fmt.Sprint(realpeer.FreeUDPPort(t))}, realpeer.SippArgs(port, 20*time.Second)...)
	sipp := realpeer.Start(t, dir, 25*time.Second, "sipp", args...)
	eventually(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, "sipp listens")

	b := newBridge(t, "c1", nil, nil)
	b.stub.do(agentDN, msml.NewRecord("c1", "rec-sipp", msml.Record{CallUUID: "01SIPPCALL", ConnID: "0071AB",
		Dests: []msml.Dest{{URI: fmt.Sprintf("sip:srs@127.0.0.1:%d", port)}}}))
	b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // some RTP towards sipp
	b.stub.do(agentDN, msml.NewStop("c1", "rec-sipp"))
	require.NoError(t, sipp.Wait(), "sipp SRS failed:\n%s", sipp.Output())

	raw, err := os.ReadFile(logFile)
	require.NoError(t, err)
	headers, body := splitMessage(t, raw)
	assert.Contains(t, headers, "\nRequire: siprec")
	contact := headerValue(headers, "Contact")
	assert.Contains(t, contact, ";+sip.src")
	ct := headerValue(headers, "Content-Type")
	require.True(t, strings.HasPrefix(ct, "multipart/mixed"), ct)
	sdpPart, metaPart, metaType, disposition := splitMultipart(t, ct, body)
	assert.Equal(t, "application/rs-metadata+xml", metaType)
	assert.Equal(t, "recording-session", disposition)

	// xmllint, a parser no one here wrote, says the metadata is well-formed.
	metaFile := filepath.Join(dir, "metadata.xml")
	require.NoError(t, os.WriteFile(metaFile, metaPart, 0o644))
	out, err := exec.Command(xmllint, "--noout", metaFile).CombinedOutput()
	require.NoError(t, err, "xmllint: %s", out)

	offer, err := sdp.Parse(sdpPart)
	require.NoError(t, err)
	checkRFC7865(t, metaPart, offer, map[string]string{agentDN: "sip:7001@127.0.0.1", customerDN: "sip:+15551230000@127.0.0.1"})
}

// splitMessage separates the logged SIP message's headers and body.
func splitMessage(t *testing.T, raw []byte) (string, []byte) {
	t.Helper()
	s := string(raw)
	i := strings.Index(s, "INVITE sip:")
	require.GreaterOrEqual(t, i, 0, "no INVITE in the sipp log:\n%s", s)
	s = s[i:]
	sep := "\r\n\r\n"
	j := strings.Index(s, sep)
	if j < 0 {
		sep = "\n\n"
		j = strings.Index(s, sep)
	}
	require.GreaterOrEqual(t, j, 0)
	headers := strings.ReplaceAll(s[:j], "\r\n", "\n")
	var n int
	_, err := fmt.Sscanf(headerValue(headers, "Content-Length"), "%d", &n)
	require.NoError(t, err)
	body := []byte(s[j+len(sep):])
	require.GreaterOrEqual(t, len(body), n, "body shorter than Content-Length")
	return headers, body[:n]
}

func headerValue(headers, name string) string {
	for _, line := range strings.Split(headers, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// splitMultipart splits an RFC 2046 multipart body by hand.
func splitMultipart(t *testing.T, ct string, body []byte) (sdpPart, meta []byte, metaType, disposition string) {
	t.Helper()
	_, params, ok := strings.Cut(ct, "boundary=")
	require.True(t, ok, ct)
	boundary := strings.Trim(strings.Split(params, ";")[0], `"`)
	parts := bytes.Split(body, []byte("--"+boundary))
	require.GreaterOrEqual(t, len(parts), 4, "preamble, 2 parts, epilogue")
	for _, p := range parts[1 : len(parts)-1] {
		p = bytes.TrimPrefix(p, []byte("\r\n"))
		h, b, ok := bytes.Cut(p, []byte("\r\n\r\n"))
		require.True(t, ok)
		b = bytes.TrimSuffix(b, []byte("\r\n"))
		hs := "\n" + string(h)
		switch ctype := headerValue(strings.ReplaceAll(hs, "\r\n", "\n"), "Content-Type"); ctype {
		case "application/sdp":
			sdpPart = b
		default:
			meta, metaType = b, ctype
			disposition = headerValue(strings.ReplaceAll(hs, "\r\n", "\n"), "Content-Disposition")
		}
	}
	require.True(t, bytes.HasSuffix(body, []byte("--"+boundary+"--\r\n")) || bytes.HasSuffix(body, []byte("--"+boundary+"--")), "final delimiter")
	require.NotNil(t, sdpPart)
	require.NotNil(t, meta)
	return sdpPart, meta, metaType, disposition
}

// RFC 7865 section 6 elements, decoded independently of pkg/siprec.
type rfcRecording struct {
	XMLName  xml.Name `xml:"urn:ietf:params:xml:ns:recording:1 recording"`
	DataMode string   `xml:"urn:ietf:params:xml:ns:recording:1 datamode"`
	Groups   []struct {
		ID    string `xml:"group_id,attr"`
		Assoc string `xml:"urn:ietf:params:xml:ns:recording:1 associate-time"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 group"`
	Sessions []struct {
		ID       string   `xml:"session_id,attr"`
		GroupRef []string `xml:"urn:ietf:params:xml:ns:recording:1 group-ref"`
		SIPID    []string `xml:"urn:ietf:params:xml:ns:recording:1 sipSessionID"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 session"`
	Participants []struct {
		ID     string `xml:"participant_id,attr"`
		NameID []struct {
			AOR string `xml:"aor,attr"`
		} `xml:"urn:ietf:params:xml:ns:recording:1 nameID"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 participant"`
	Streams []struct {
		ID      string `xml:"stream_id,attr"`
		Session string `xml:"session_id,attr"`
		Label   string `xml:"urn:ietf:params:xml:ns:recording:1 label"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 stream"`
	SRAssocs []struct {
		Session string `xml:"session_id,attr"`
		Assoc   string `xml:"urn:ietf:params:xml:ns:recording:1 associate-time"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 sessionrecordingassoc"`
	PSAssocs []struct {
		Participant string `xml:"participant_id,attr"`
		Session     string `xml:"session_id,attr"`
		Assoc       string `xml:"urn:ietf:params:xml:ns:recording:1 associate-time"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 participantsessionassoc"`
	PStAssocs []struct {
		Participant string   `xml:"participant_id,attr"`
		Send        []string `xml:"urn:ietf:params:xml:ns:recording:1 send"`
		Recv        []string `xml:"urn:ietf:params:xml:ns:recording:1 recv"`
	} `xml:"urn:ietf:params:xml:ns:recording:1 participantstreamassoc"`
}

// checkRFC7865 checks the metadata of a complete snapshot the way RFC 7865
// writes it: required elements and attributes, base64 and unique ids, every
// reference resolving, each SDP label matching exactly one <stream>, and each
// party sending its own stream and receiving the others.
func checkRFC7865(t *testing.T, meta []byte, offer *sdp.Session, aorByLabel map[string]string) {
	t.Helper()
	var r rfcRecording
	require.NoError(t, xml.Unmarshal(meta, &r), "root <recording> in the RFC 7865 namespace")
	assert.Equal(t, "complete", r.DataMode)

	ids := map[string]string{}
	id := func(kind, v string) {
		require.NotEmpty(t, v, "%s id missing", kind)
		_, err := base64.StdEncoding.DecodeString(v)
		assert.NoError(t, err, "%s id %q is not base64", kind, v)
		if prev, dup := ids[v]; dup {
			t.Errorf("id %q used by a %s and a %s", v, prev, kind)
		}
		ids[v] = kind
	}
	require.Len(t, r.Groups, 1)
	for _, g := range r.Groups {
		id("group", g.ID)
		assert.NotEmpty(t, g.Assoc, "group associate-time")
	}
	require.Len(t, r.Sessions, 1)
	for _, s := range r.Sessions {
		id("session", s.ID)
		for _, ref := range s.GroupRef {
			assert.Equal(t, "group", ids[ref], "group-ref %s resolves", ref)
		}
		assert.NotEmpty(t, s.SIPID, "sipSessionID")
	}
	require.Len(t, r.Participants, len(aorByLabel))
	aorOf := map[string]string{}
	for _, p := range r.Participants {
		id("participant", p.ID)
		require.Len(t, p.NameID, 1)
		aorOf[p.ID] = p.NameID[0].AOR
	}
	streamOf := map[string]string{} // label -> stream id
	for _, s := range r.Streams {
		id("stream", s.ID)
		assert.Equal(t, "session", ids[s.Session], "stream session_id resolves")
		require.NotEmpty(t, s.Label)
		_, dup := streamOf[s.Label]
		assert.False(t, dup, "label %s on one stream only", s.Label)
		streamOf[s.Label] = s.ID
	}
	require.Len(t, r.SRAssocs, 1)
	assert.Equal(t, "session", ids[r.SRAssocs[0].Session])
	assert.NotEmpty(t, r.SRAssocs[0].Assoc)
	require.Len(t, r.PSAssocs, len(r.Participants))
	for _, a := range r.PSAssocs {
		assert.Equal(t, "participant", ids[a.Participant])
		assert.Equal(t, "session", ids[a.Session])
		assert.NotEmpty(t, a.Assoc)
	}

	// Each SDP a=label matches exactly one <stream>, and every stream has an m-line.
	require.Len(t, offer.Media, len(r.Streams))
	for _, m := range offer.Media {
		require.Contains(t, streamOf, m.Label, "SDP label %q has a <stream>", m.Label)
		assert.Equal(t, sdp.SendOnly, m.Direction)
	}
	// Send/recv: the party with the AOR of a label sends that label's stream
	// and receives every other one.
	require.Len(t, r.PStAssocs, len(r.Participants))
	for _, a := range r.PStAssocs {
		aor := aorOf[a.Participant]
		require.NotEmpty(t, aor, "participantstreamassoc participant resolves")
		for label, want := range aorByLabel {
			sid := streamOf[label]
			if want == aor {
				assert.Equal(t, []string{sid}, a.Send, "%s sends stream %s", aor, label)
				assert.NotContains(t, a.Recv, sid)
			} else {
				assert.Contains(t, a.Recv, sid, "%s receives stream %s", aor, label)
			}
		}
		for _, s := range append(append([]string{}, a.Send...), a.Recv...) {
			assert.Equal(t, "stream", ids[s], "send/recv %s resolves", s)
		}
	}
}
