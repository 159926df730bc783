package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/siprec"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	var c Config
	c.Defaults()
	require.NoError(t, c.Validate())
	assert.Equal(t, DefaultFlushInterval, c.FlushInterval)
	assert.Equal(t, SRTPAllow, c.SRTP)
	assert.Equal(t, "recorder", c.TLib.AppName)

	bad := c
	bad.Name = "bad name!"
	bad.SIP.UDP = "nowhere"
	bad.HTTP = "x:y"
	bad.RTPPorts.Min, bad.RTPPorts.Max = 5000, 4000
	bad.MaxSessions = -1
	bad.FlushInterval = 2 * time.Second
	bad.JitterWindow = time.Second
	bad.PrerecordGrace = -time.Second
	bad.AdvertiseAddr = "host.example"
	bad.SRTP = "maybe"
	bad.TLib.Addr = "tlib"
	err := bad.Validate()
	require.ErrorIs(t, err, ErrConfig)
	for _, key := range []string{"name:", "sip.udp:", "http:", "rtp-ports:", "max-sessions:", "flush-interval:",
		"jitter-window:", "prerecord-grace:", "advertise-addr:", "srtp:", "tlib.addr:"} {
		assert.Contains(t, err.Error(), key)
	}
	none := c
	none.SIP.UDP, none.SIP.TCP, none.SIP.TLS = "", "", ""
	assert.ErrorContains(t, none.Validate(), "sip:")
	_, err = New(bad)
	require.ErrorIs(t, err, ErrConfig)
}

func TestParseGenesysURI(t *testing.T) {
	tests := []struct {
		uri  string
		ok   bool
		want genesysContext
	}{
		{"sip:record=r1@rec.example;calluuid=01ABCD;dn=7001;otherDN=%2B15550001;recordDN=7001", true,
			genesysContext{RecordingID: "r1", CallUUID: "01ABCD", DN: "7001", OtherDN: "+15550001", RecordDN: "7001"}},
		{"sip:Record=R2@rec.example;CALLUUID=X;DN=7002;prerecord", true,
			genesysContext{RecordingID: "R2", CallUUID: "X", DN: "7002", Prerecord: true}},
		{"sip:srs@rec.example;calluuid=01ABCD", true, genesysContext{CallUUID: "01ABCD"}},
		{"sip:srs@rec.example", false, genesysContext{}},
		{"sip:7001@pbx.example;user=phone", false, genesysContext{}},
	}
	for _, tc := range tests {
		var u sip.Uri
		require.NoError(t, sip.ParseUri(tc.uri, &u), tc.uri)
		g, ok := parseGenesysURI(u)
		assert.Equal(t, tc.ok, ok, tc.uri)
		if tc.ok {
			assert.Equal(t, tc.want, g, tc.uri)
		}
	}
	g := genesysContext{DN: "7001", OtherDN: "+1555"}
	assert.Equal(t, []string{"7001", "+1555", "stream2"}, []string{genesysLabel(g, 0), genesysLabel(g, 1), genesysLabel(g, 2)})
}

func TestAORUser(t *testing.T) {
	for in, want := range map[string]string{
		"sip:+15551234567@ims.mnc001.mcc001.3gppnetwork.org;user=phone": "+15551234567",
		"tel:+15551234567":               "+15551234567",
		"<sips:7001@pbx.example>":        "7001",
		"7002@198.51.100.7":              "7002",
		"7602920001":                     "7602920001",
		"sip:" + strings.Repeat("9", 80): "",
	} {
		assert.Equal(t, want, aorUser(in), in)
	}
}

func TestHasMKI(t *testing.T) {
	assert.True(t, hasMKI("|2^20|1:4"))
	assert.True(t, hasMKI("|1:4"))
	assert.False(t, hasMKI("|2^31"))
	assert.False(t, hasMKI(""))
	assert.False(t, hasMKI(" UNENCRYPTED_SRTCP"))
	assert.False(t, hasMKI("|2^31;inline:abc"))
}

func TestLabelChannelsWarnings(t *testing.T) {
	md := &siprec.Metadata{
		Streams:      []siprec.Stream{{ID: "s1", Label: "1"}, {ID: "s2", Label: "2"}, {ID: "s3", Label: "9"}},
		Participants: []siprec.Participant{{ID: "p1", AOR: "sip:a@x", Send: []string{"s1"}}},
	}
	chans, warns := labelChannels([]ChannelInfo{{Index: 0, Label: "1"}, {Index: 1, Label: "2"}, {Index: 2}, {Index: 3, Label: "7"}}, md)
	assert.Equal(t, "s1", chans[0].StreamID)
	assert.Equal(t, "sip:a@x", chans[0].AOR)
	assert.Equal(t, "s2", chans[1].StreamID)
	joined := strings.Join(warns, "\n")
	assert.Contains(t, joined, `no participant sends stream "s2"`)
	assert.Contains(t, joined, "channel 2 has no a=label")
	assert.Contains(t, joined, `SDP label "7" has no <stream>`)
	assert.Contains(t, joined, `metadata stream "s3" (label "9") has no SDP m-line`)
}

func TestApplyMetadataCallData(t *testing.T) {
	md := &siprec.Metadata{
		Streams:      []siprec.Stream{{ID: "s1", Label: "L1"}},
		Participants: []siprec.Participant{{ID: "p1", AOR: "tel:+15550001", Name: "Cust", Send: []string{"s1"}}},
		CallData: &siprec.CallData{CallUUID: "U", ConnID: "C", RecordDN: "7001", OtherDN: "+15550001", AgentID: "a1",
			RecordingID: "R", Prerecord: true, DNs: []string{"7100"}, Extra: map[string]string{"ANI": "+15550001", "dnis": "5000"}},
	}
	rec := &Recording{}
	applyMetadata(rec, md)
	assert.Equal(t, "U", rec.CallUUID)
	assert.Equal(t, "C", rec.ConnID)
	assert.Equal(t, "a1", rec.AgentID)
	assert.Equal(t, "R", rec.SRCRecordID)
	assert.True(t, rec.Prerecord)
	assert.Equal(t, "+15550001", rec.ANI)
	assert.Equal(t, "5000", rec.DNIS)
	assert.ElementsMatch(t, []string{"+15550001", "7001", "7100"}, rec.DNs)
	require.Len(t, rec.Participants, 1)
	assert.Equal(t, []string{"L1"}, rec.Participants[0].Send)

	ac := &siprec.Metadata{Extensions: []siprec.RawElement{{Parent: "session", Space: "urn:ietf:params:xml:ns:Genesys",
		Name: "GenesysUUID", Inner: []byte("01XYZ")}}}
	rec = &Recording{}
	applyMetadata(rec, ac)
	assert.Equal(t, "01XYZ", rec.CallUUID, "AudioCodes GenesysUUID extension")
}

func FuzzParseInviteBody(f *testing.F) {
	f.Add("multipart/mixed;boundary=b1", multipart(goodSDP, `<recording xmlns="urn:ietf:params:xml:ns:recording:1"/>`))
	f.Add("application/sdp", goodSDP)
	f.Add("application/rs-metadata", "<recording/>")
	f.Add("multipart/mixed", "--\r\n\r\n")
	f.Add("text/plain", "x")
	files, _ := filepath.Glob(filepath.Join(vendorDir, "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		head, body, _ := strings.Cut(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n")
		for _, line := range strings.Split(head, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Type") {
				f.Add(strings.TrimSpace(v), body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		req := sip.NewRequest(sip.INVITE, sip.Uri{User: "srs", Host: "127.0.0.1"})
		if ct != "" {
			req.AppendHeader(sip.NewHeader("Content-Type", ct))
		}
		req.SetBody([]byte(body))
		b, err := parseInviteBody(req)
		if err == nil && b.md != nil {
			rec := &Recording{}
			applyMetadata(rec, b.md)
			labelChannels([]ChannelInfo{{Label: "1"}}, b.md)
		}
	})
}

func FuzzOpenPCMData(f *testing.F) {
	dir := f.TempDir()
	w, err := createWAV(filepath.Join(dir, "seed.wav"), 2)
	require.NoError(f, err)
	require.NoError(f, w.WriteFrames(make([]int16, 320)))
	require.NoError(f, w.Close())
	seed, err := os.ReadFile(filepath.Join(dir, "seed.wav"))
	require.NoError(f, err)
	f.Add(seed)
	f.Add(seed[:44])
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "x.wav")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		fh, err := os.Open(p)
		require.NoError(t, err)
		defer fh.Close()
		d, err := openPCMData(fh)
		if err == nil {
			assert.Positive(t, d.channels)
			assert.LessOrEqual(t, d.offset+d.frames*int64(2*d.channels), int64(len(b)))
		}
	})
}

// FuzzTimelinePush feeds arbitrary datagrams to a timeline at arbitrary times: it must
// never panic and the output must stay a whole number of frames on the wall clock.
func FuzzTimelinePush(f *testing.F) {
	snd := newSender(toneA, 1, 65530, 4294967000)
	p, _ := snd.packet(frameLen).Marshal()
	f.Add(p, uint16(20))
	f.Add([]byte{0x80, 101, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 5, 0x80, 0, 160}, uint16(0))
	f.Add([]byte{0x80, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, uint16(1000))
	f.Fuzz(func(t *testing.T, datagram []byte, atMs uint16) {
		start := time.Unix(1000, 0)
		tl := NewTimeline(TimelineConfig{Dir: t.TempDir(), Start: start, Window: 40 * time.Millisecond})
		ch, err := tl.AddChannel(ChannelInfo{}, start)
		require.NoError(t, err)
		tl.SetCodecs(ch, map[uint8]string{0: "PCMU", 8: "PCMA", 101: "telephone-event", 13: "CN"})
		var pkt rtp.Packet
		if pkt.Unmarshal(datagram) != nil {
			return
		}
		for i := range 3 {
			at := start.Add(time.Duration(int(atMs)*i) * time.Millisecond)
			tl.Push(ch, &pkt, at)
			pkt.SequenceNumber++
			pkt.Timestamp += uint32(len(pkt.Payload))
			require.NoError(t, tl.Advance(at))
		}
		end := start.Add(time.Duration(3*int(atMs)+100) * time.Millisecond)
		frames, err := tl.Finish(end)
		require.NoError(t, err)
		assert.Equal(t, samplesOf(end.Sub(start)), frames)
	})
}
