package sdp

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	ourAddr = ip("198.51.100.7")
	te96    = Codec{96, "telephone-event", 8000, 1, "0-16"}
)

// offerWith parses an offer from 192.0.2.1 whose media section is body.
func offerWith(t *testing.T, body string) *Session {
	t.Helper()
	s, err := Parse([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" + body))
	require.NoError(t, err)
	return s
}

func answerOpts() AnswerOptions { return AnswerOptions{Addr: ourAddr, Port: 30000} }

func TestNewOfferDefaults(t *testing.T) {
	s, err := NewOffer(OfferOptions{Addr: ourAddr, Port: 40000})
	require.NoError(t, err)
	assert.Equal(t, "arlab", s.Origin.Username)
	assert.Equal(t, ourAddr, s.Origin.Addr)
	assert.NotZero(t, s.Origin.SessionID)
	assert.Equal(t, ourAddr, s.Addr)
	require.Len(t, s.Media, 1)
	m := s.Media[0]
	assert.Equal(t, Media{
		Type: "audio", Port: 40000, Proto: "RTP/AVP", Codecs: []Codec{PCMU, PCMA, TelephoneEvent},
		Direction: SendRecv, Addr: ourAddr, Ptime: 20,
	}, m)

	want := fmt.Sprintf("v=0\r\no=arlab %d %d IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"+
		"m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
		s.Origin.SessionID, s.Origin.SessionVersion)
	assert.Equal(t, want, string(s.Marshal()))

	again, err := Parse(s.Marshal())
	require.NoError(t, err)
	s.Name = "-"
	assert.Equal(t, s, again)
}

func TestNewOfferOptions(t *testing.T) {
	s, err := NewOffer(OfferOptions{
		Addr: ip("2001:db8::7"), Port: 40002, Codecs: []Codec{PCMA}, Direction: SendOnly,
		Label: "a-leg", SRTP: true, Ptime: 30, Username: "mcp", RTCPMux: true,
	})
	require.NoError(t, err)
	m := s.Media[0]
	assert.Equal(t, "mcp", s.Origin.Username)
	assert.Equal(t, "RTP/SAVP", m.Proto)
	require.Len(t, m.Crypto, 1)
	assert.Equal(t, 1, m.Crypto[0].Tag)
	assert.Equal(t, SuiteAES128SHA1_80, m.Crypto[0].Suite)
	assert.Len(t, m.Crypto[0].Key, 30)
	assert.Equal(t, SendOnly, m.Direction)
	assert.Equal(t, "a-leg", m.Label)
	assert.Equal(t, 30, m.Ptime)
	assert.True(t, m.RTCPMux)
	assert.Equal(t, []Codec{PCMA}, m.Codecs)
	assert.Contains(t, string(s.Marshal()), "c=IN IP6 2001:db8::7\r\n")

	again, err := Parse(s.Marshal())
	require.NoError(t, err)
	assert.Equal(t, s.Media, again.Media)
}

func TestNewOfferBadOptions(t *testing.T) {
	tests := map[string]OfferOptions{
		"no address":      {Port: 1},
		"port 0":          {Addr: ourAddr},
		"port too big":    {Addr: ourAddr, Port: 65536},
		"bad direction":   {Addr: ourAddr, Port: 1, Direction: "both"},
		"negative ptime":  {Addr: ourAddr, Port: 1, Ptime: -1},
		"duplicate PT":    {Addr: ourAddr, Port: 1, Codecs: []Codec{PCMU, PCMU}},
		"PT over 127":     {Addr: ourAddr, Port: 1, Codecs: []Codec{{200, "X", 8000, 1, ""}}},
		"codec w/o name":  {Addr: ourAddr, Port: 1, Codecs: []Codec{{PayloadType: 96, ClockRate: 8000}}},
		"codec w/o clock": {Addr: ourAddr, Port: 1, Codecs: []Codec{{PayloadType: 96, Name: "X"}}},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewOffer(o)
			require.ErrorIs(t, err, ErrBadOptions)
		})
	}
}

func TestAnswerCodecs(t *testing.T) {
	tests := []struct {
		name   string
		media  string
		ours   []Codec
		want   []Codec
		errIs  error
		expect string // substring of the marshalled answer
	}{
		{
			name:  "dynamic telephone-event 96 keeps the offer's number",
			media: "m=audio 4000 RTP/AVP 0 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n",
			want:  []Codec{PCMU, PCMA, te96},
		},
		{
			name:  "telephone-event 101",
			media: "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
			want:  []Codec{PCMU, PCMA, {101, "telephone-event", 8000, 1, "0-15"}},
		},
		{
			name:   "telephone-event without fmtp gets ours",
			media:  "m=audio 4000 RTP/AVP 0 100\r\na=rtpmap:100 telephone-event/8000\r\n",
			want:   []Codec{PCMU, {100, "telephone-event", 8000, 1, "0-16"}},
			expect: "m=audio 30000 RTP/AVP 0 100\r\n",
		},
		{
			name:  "A-law only on our side",
			media: "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			ours:  []Codec{PCMA, TelephoneEvent},
			want:  []Codec{PCMA, {101, "telephone-event", 8000, 1, "0-16"}},
		},
		{
			name:  "A-law only offered, no DTMF",
			media: "m=audio 4000 RTP/AVP 8\r\n",
			want:  []Codec{PCMA},
		},
		{
			name:  "our preference order wins",
			media: "m=audio 4000 RTP/AVP 0 8\r\n",
			ours:  []Codec{PCMA, PCMU},
			want:  []Codec{PCMA, PCMU},
		},
		{
			name:  "case-insensitive names, 8 kHz event among several",
			media: "m=audio 4000 RTP/AVP 96 97 98 99\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 pcmu/8000\r\na=rtpmap:98 telephone-event/48000\r\na=rtpmap:99 TELEPHONE-EVENT/8000\r\n",
			want:  []Codec{{97, "pcmu", 8000, 1, ""}, {99, "TELEPHONE-EVENT", 8000, 1, "0-16"}},
		},
		{
			name:  "unmapped dynamic type does not match",
			media: "m=audio 4000 RTP/AVP 96 8\r\n",
			ours:  []Codec{{96, "PCMU", 8000, 1, ""}, PCMA},
			want:  []Codec{PCMA},
		},
		{
			name:  "no common codec",
			media: "m=audio 4000 RTP/AVP 18 9 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			errIs: ErrNoCommonCodec,
		},
		{
			name:  "telephone-event alone is not enough",
			media: "m=audio 4000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			errIs: ErrNoCommonCodec,
		},
		{
			name:  "CN and DTMF are not enough",
			media: "m=audio 4000 RTP/AVP 13 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			ours:  []Codec{PCMU, {13, "CN", 8000, 1, ""}, TelephoneEvent},
			errIs: ErrNoCommonCodec,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := answerOpts()
			o.Codecs = tc.ours
			ans, err := Answer(offerWith(t, tc.media), o)
			if tc.errIs != nil {
				require.ErrorIs(t, err, tc.errIs)
				assert.Nil(t, ans)
				return
			}
			require.NoError(t, err)
			a, ok := ans.Audio()
			require.True(t, ok)
			assert.Equal(t, tc.want, a.Codecs)
			if tc.expect != "" {
				assert.Contains(t, string(ans.Marshal()), tc.expect)
			}
		})
	}
}

func TestAnswerLinphoneDTMF(t *testing.T) {
	ans, err := Answer(loadSession(t, "linphone.sdp"), answerOpts())
	require.NoError(t, err)
	a, _ := ans.Audio()
	assert.Equal(t, []Codec{PCMU, PCMA, {100, "telephone-event", 8000, 1, "0-16"}}, a.Codecs)
}

func TestAnswerDirections(t *testing.T) {
	offers := []Direction{SendRecv, SendOnly, RecvOnly, Inactive}
	wishes := []Direction{"", SendRecv, SendOnly, RecvOnly, Inactive}
	// want[offer][wish]
	want := map[Direction]map[Direction]Direction{
		SendRecv: {"": SendRecv, SendRecv: SendRecv, SendOnly: SendOnly, RecvOnly: RecvOnly, Inactive: Inactive},
		SendOnly: {"": RecvOnly, SendRecv: RecvOnly, SendOnly: Inactive, RecvOnly: RecvOnly, Inactive: Inactive},
		RecvOnly: {"": SendOnly, SendRecv: SendOnly, SendOnly: SendOnly, RecvOnly: Inactive, Inactive: Inactive},
		Inactive: {"": Inactive, SendRecv: Inactive, SendOnly: Inactive, RecvOnly: Inactive, Inactive: Inactive},
	}
	for _, od := range offers {
		for _, wish := range wishes {
			t.Run(fmt.Sprintf("offer %s wish %q", od, wish), func(t *testing.T) {
				offer := offerWith(t, "m=audio 4000 RTP/AVP 0\r\na="+string(od)+"\r\n")
				o := answerOpts()
				o.Direction = wish
				ans, err := Answer(offer, o)
				require.NoError(t, err)
				assert.Equal(t, want[od][wish], ans.Media[0].Direction)
			})
		}
	}
}

func TestAnswerHoldByAddress(t *testing.T) {
	// RFC 2543 hold: c=0.0.0.0 with sendrecv means the offerer cannot receive.
	ans, err := Answer(loadSession(t, "hold_c0.sdp"), answerOpts())
	require.NoError(t, err)
	assert.Equal(t, RecvOnly, ans.Media[0].Direction)
	assert.False(t, ans.IsHold(), "the answer itself is recvonly on a real address")
}

func TestIsHold(t *testing.T) {
	tests := []struct {
		name string
		body string
		hold bool
	}{
		{"sendrecv", "m=audio 4000 RTP/AVP 0\r\n", false},
		{"recvonly", "m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n", false},
		{"sendonly", "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n", true},
		{"inactive", "m=audio 4000 RTP/AVP 0\r\na=inactive\r\n", true},
		{"c=0.0.0.0 media level", "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n", true},
		{"c=:: media level", "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::\r\n", true},
		{"port 0", "m=audio 0 RTP/AVP 0\r\n", true},
		{"video only", "m=video 4000 RTP/AVP 31\r\na=sendonly\r\n", false},
		{"first audio decides", "m=video 4000 RTP/AVP 31\r\nm=audio 4002 RTP/AVP 0\r\na=inactive\r\nm=audio 4004 RTP/AVP 0\r\n", true},
		{"second audio ignored", "m=audio 4002 RTP/AVP 0\r\nm=audio 4004 RTP/AVP 0\r\na=inactive\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.hold, offerWith(t, tc.body).IsHold())
		})
	}
}

func TestAnswerSRTP(t *testing.T) {
	t.Run("SAVP refused without SRTP", func(t *testing.T) {
		_, err := Answer(loadSession(t, "polycom_srtp.sdp"), answerOpts())
		require.ErrorIs(t, err, ErrSRTPRequired)
	})
	t.Run("SAVP accepted with SRTP", func(t *testing.T) {
		offer := loadSession(t, "freeswitch_srtp.sdp")
		o := answerOpts()
		o.SRTP = true
		ans, err := Answer(offer, o)
		require.NoError(t, err)
		a, _ := ans.Audio()
		assert.Equal(t, "RTP/SAVP", a.Proto)
		require.Len(t, a.Crypto, 1)
		assert.Equal(t, 3, a.Crypto[0].Tag, "first supported suite; GCM and AES-256 are skipped")
		assert.Equal(t, SuiteAES128SHA1_80, a.Crypto[0].Suite)
		assert.Len(t, a.Crypto[0].Key, 30)
		theirs, ok := offer.Media[0].CryptoByTag(a.Crypto[0].Tag)
		require.True(t, ok)
		assert.False(t, bytes.Equal(theirs.Key, a.Crypto[0].Key), "we generate our own key")
		assert.Equal(t, []Codec{PCMU, PCMA, te96}, a.Codecs)
		assert.Equal(t, 20, a.Ptime, "offer ptime echoed")

		again, err := Parse(ans.Marshal())
		require.NoError(t, err)
		assert.Equal(t, a.Crypto, again.Media[0].Crypto)
	})
	t.Run("SAVP with only 32-bit tag", func(t *testing.T) {
		c, err := NewCrypto(5, SuiteAES128SHA1_32)
		require.NoError(t, err)
		offer := offerWith(t, "m=audio 4000 RTP/SAVP 0\r\na=crypto:"+c.String()+"\r\n")
		o := answerOpts()
		o.SRTP = true
		ans, err := Answer(offer, o)
		require.NoError(t, err)
		assert.Equal(t, 5, ans.Media[0].Crypto[0].Tag)
		assert.Equal(t, SuiteAES128SHA1_32, ans.Media[0].Crypto[0].Suite)
	})
	t.Run("SAVP without usable crypto", func(t *testing.T) {
		o := answerOpts()
		o.SRTP = true
		_, err := Answer(offerWith(t, "m=audio 4000 RTP/SAVP 0\r\n"), o)
		require.ErrorIs(t, err, ErrBadCrypto)
		_, err = Answer(offerWith(t, "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AEAD_AES_256_GCM inline:AAAA\r\n"), o)
		require.ErrorIs(t, err, ErrBadCrypto)
	})
	t.Run("plain offer with SRTP support", func(t *testing.T) {
		o := answerOpts()
		o.SRTP = true
		ans, err := Answer(loadSession(t, "asterisk.sdp"), o)
		require.NoError(t, err)
		assert.Equal(t, "RTP/AVP", ans.Media[0].Proto)
		assert.Nil(t, ans.Media[0].Crypto)
	})
	t.Run("plain offer when SRTP is required", func(t *testing.T) {
		o := answerOpts()
		o.RequireSRTP = true
		_, err := Answer(loadSession(t, "asterisk.sdp"), o)
		require.ErrorIs(t, err, ErrSRTPNotOffered)
	})
	t.Run("best effort two m-lines, no SRTP: plain line answered", func(t *testing.T) {
		ans, err := Answer(loadSession(t, "srtp_besteffort_2m.sdp"), answerOpts())
		require.NoError(t, err)
		require.Len(t, ans.Media, 2)
		assert.Equal(t, 0, ans.Media[0].Port)
		assert.Equal(t, "RTP/SAVP", ans.Media[0].Proto)
		assert.Equal(t, 30000, ans.Media[1].Port)
		assert.Equal(t, "RTP/AVP", ans.Media[1].Proto)
	})
	t.Run("best effort two m-lines, SRTP: secure line answered", func(t *testing.T) {
		o := answerOpts()
		o.SRTP = true
		ans, err := Answer(loadSession(t, "srtp_besteffort_2m.sdp"), o)
		require.NoError(t, err)
		assert.Equal(t, 30000, ans.Media[0].Port)
		assert.Len(t, ans.Media[0].Crypto, 1)
		assert.Equal(t, 0, ans.Media[1].Port)
	})
	t.Run("WebRTC transport", func(t *testing.T) {
		o := answerOpts()
		o.SRTP = true
		_, err := Answer(loadSession(t, "webrtc_gateway.sdp"), o)
		require.ErrorIs(t, err, ErrUnsupportedProto)
	})
}

func TestAnswerMultipleMLines(t *testing.T) {
	t.Run("Answer takes the first audio line only", func(t *testing.T) {
		offer := loadSession(t, "audiocodes_siprec.sdp")
		ans, err := Answer(offer, answerOpts())
		require.NoError(t, err)
		require.Len(t, ans.Media, 2)
		assert.Equal(t, 30000, ans.Media[0].Port)
		assert.Equal(t, RecvOnly, ans.Media[0].Direction)
		assert.Equal(t, "1", ans.Media[0].Label)
		assert.Equal(t, 0, ans.Media[1].Port)
		assert.Equal(t, "2", ans.Media[1].Label)
		assert.NotEmpty(t, ans.Media[1].Codecs, "a rejected line keeps at least one format")
	})
	t.Run("AnswerAll takes every audio line", func(t *testing.T) {
		offer := loadSession(t, "oracle_sbc_siprec.sdp")
		o := answerOpts()
		o.Codecs = []Codec{PCMU, PCMA}
		ans, err := AnswerAll(offer, o)
		require.NoError(t, err)
		require.Len(t, ans.Media, 2)
		for i, m := range ans.Media {
			assert.Equal(t, 30000+2*i, m.Port)
			assert.Equal(t, RecvOnly, m.Direction)
			assert.Equal(t, offer.Media[i].Label, m.Label)
			assert.Equal(t, []Codec{PCMU}, m.Codecs)
			assert.Equal(t, ourAddr, m.Addr)
		}
		again, err := Parse(ans.Marshal())
		require.NoError(t, err)
		assert.Equal(t, ans.Media, again.Media)
	})
	t.Run("AnswerAll refuses one stream", func(t *testing.T) {
		offer := offerWith(t, "m=audio 4000 RTP/AVP 0\r\na=label:a\r\na=sendonly\r\n"+
			"m=audio 4002 RTP/AVP 18\r\na=label:b\r\na=sendonly\r\n"+
			"m=video 4004 RTP/AVP 31\r\n"+
			"m=audio 0 RTP/AVP 0\r\n"+
			"m=audio 4008 RTP/AVP 0\r\na=label:e\r\na=sendonly\r\n")
		ans, err := AnswerAll(offer, answerOpts())
		require.NoError(t, err)
		ports := []int{}
		for _, m := range ans.Media {
			ports = append(ports, m.Port)
		}
		assert.Equal(t, []int{30000, 0, 0, 0, 30008}, ports)
		assert.Equal(t, "video", ans.Media[2].Type)
		assert.Equal(t, []Codec{{31, "H261", 90000, 1, ""}}, ans.Media[2].Codecs)
	})
	t.Run("AnswerAll fails when nothing is accepted", func(t *testing.T) {
		offer := offerWith(t, "m=audio 4000 RTP/AVP 18\r\nm=audio 4002 RTP/AVP 9\r\n")
		_, err := AnswerAll(offer, answerOpts())
		require.ErrorIs(t, err, ErrNoCommonCodec)
	})
	t.Run("AnswerAll port range", func(t *testing.T) {
		o := answerOpts()
		o.Port = 65534
		_, err := AnswerAll(loadSession(t, "oracle_sbc_siprec.sdp"), o)
		require.ErrorIs(t, err, ErrBadOptions)
	})
	t.Run("audio plus video", func(t *testing.T) {
		ans, err := Answer(loadSession(t, "media_level_c.sdp"), answerOpts())
		require.NoError(t, err)
		require.Len(t, ans.Media, 2)
		assert.Equal(t, 30000, ans.Media[0].Port)
		assert.Equal(t, "video", ans.Media[1].Type)
		assert.Equal(t, 0, ans.Media[1].Port)
		assert.Contains(t, string(ans.Marshal()), "m=video 0 RTP/AVP 96\r\n")
	})
	t.Run("T.38 re-INVITE has no audio", func(t *testing.T) {
		_, err := Answer(loadSession(t, "t38_reinvite.sdp"), answerOpts())
		require.ErrorIs(t, err, ErrNoMedia)
		_, err = AnswerAll(loadSession(t, "t38_reinvite.sdp"), answerOpts())
		require.ErrorIs(t, err, ErrNoMedia)
	})
}

func TestAnswerMedia(t *testing.T) {
	offer := loadSession(t, "audiocodes_siprec.sdp")
	o := AnswerOptions{Addr: ourAddr, Port: 50010, Codecs: []Codec{PCMA, TelephoneEvent}}
	m, err := AnswerMedia(offer.Media[1], o)
	require.NoError(t, err)
	assert.Equal(t, Media{
		Type: "audio", Port: 50010, Proto: "RTP/AVP",
		Codecs:    []Codec{PCMA, {96, "telephone-event", 8000, 1, "0-15"}},
		Direction: RecvOnly, Label: "2", Addr: ourAddr, Ptime: 20,
	}, m)

	_, err = AnswerMedia(Media{Type: "video", Port: 1, Proto: "RTP/AVP", Codecs: []Codec{PCMU}}, o)
	require.ErrorIs(t, err, ErrNoMedia)
	_, err = AnswerMedia(Media{Type: "audio", Port: 0, Proto: "RTP/AVP", Codecs: []Codec{PCMU}}, o)
	require.ErrorIs(t, err, ErrNoMedia)
	_, err = AnswerMedia(offer.Media[0], AnswerOptions{Addr: ourAddr})
	require.ErrorIs(t, err, ErrBadOptions)
}

func TestAnswerOptions(t *testing.T) {
	offer := loadSession(t, "rtcpmux_rtp_avp.sdp")

	ans, err := Answer(offer, answerOpts())
	require.NoError(t, err)
	assert.False(t, ans.Media[0].RTCPMux, "not accepted unless enabled")
	assert.Equal(t, 20, ans.Media[0].Ptime)
	assert.Equal(t, "arlab", ans.Origin.Username)
	assert.Equal(t, ourAddr, ans.Addr)

	o := answerOpts()
	o.RTCPMux, o.Ptime, o.Username = true, 40, "srs"
	ans, err = Answer(offer, o)
	require.NoError(t, err)
	assert.True(t, ans.Media[0].RTCPMux)
	assert.Equal(t, 40, ans.Media[0].Ptime)
	assert.Equal(t, "srs", ans.Origin.Username)

	ans, err = Answer(loadSession(t, "sipp_default.sdp"), o)
	require.NoError(t, err)
	assert.False(t, ans.Media[0].RTCPMux, "not offered")

	_, err = Answer(nil, answerOpts())
	require.ErrorIs(t, err, ErrNoMedia)
	_, err = Answer(&Session{}, answerOpts())
	require.ErrorIs(t, err, ErrNoMedia)
	for name, bad := range map[string]AnswerOptions{
		"no addr":       {Port: 1},
		"bad port":      {Addr: ourAddr, Port: -1},
		"bad direction": {Addr: ourAddr, Port: 1, Direction: "x"},
		"bad ptime":     {Addr: ourAddr, Port: 1, Ptime: -5},
		"bad codecs":    {Addr: ourAddr, Port: 1, Codecs: []Codec{PCMU, PCMU}},
	} {
		_, err = Answer(offer, bad)
		require.ErrorIs(t, err, ErrBadOptions, name)
		_, err = AnswerAll(offer, bad)
		require.ErrorIs(t, err, ErrBadOptions, name)
	}
}

// TestOfferAnswerRoundTrip answers our own offer, as two arlab components do.
func TestOfferAnswerRoundTrip(t *testing.T) {
	offer, err := NewOffer(OfferOptions{Addr: ip("192.0.2.50"), Port: 40000, SRTP: true, Label: "x", Direction: SendOnly})
	require.NoError(t, err)
	received, err := Parse(offer.Marshal())
	require.NoError(t, err)
	o := answerOpts()
	o.SRTP = true
	ans, err := Answer(received, o)
	require.NoError(t, err)
	a, _ := ans.Audio()
	assert.Equal(t, RecvOnly, a.Direction)
	assert.Equal(t, "x", a.Label)
	assert.Equal(t, []Codec{PCMU, PCMA, TelephoneEvent}, a.Codecs)
	assert.Equal(t, 1, a.Crypto[0].Tag)
	assert.Equal(t, 20, a.Ptime)
}
