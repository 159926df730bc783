package sdp

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClone(t *testing.T) {
	s := loadSession(t, "freeswitch_srtp.sdp")
	s.Attributes = []Attribute{{"a", "b"}}
	s.Bandwidth = []string{"AS:1"}
	s.Media[0].Formats = []string{"x"}
	s.Media[0].Bandwidth = []string{"AS:2"}
	c := s.Clone()
	require.Equal(t, s, c)

	c.Attributes[0].Value = "changed"
	c.Bandwidth[0] = "changed"
	m := &c.Media[0]
	m.Codecs[0].Name = "changed"
	m.Crypto[0].Key[0] ^= 0xff
	m.Attributes[0].Key = "changed"
	m.Formats[0] = "changed"
	m.Bandwidth[0] = "changed"
	c.Media = append(c.Media, Media{})

	orig := loadSession(t, "freeswitch_srtp.sdp")
	assert.Equal(t, orig.Media[0].Codecs, s.Media[0].Codecs)
	assert.Equal(t, orig.Media[0].Crypto, s.Media[0].Crypto)
	assert.Equal(t, orig.Media[0].Attributes, s.Media[0].Attributes)
	assert.Equal(t, "b", s.Attributes[0].Value)
	assert.Equal(t, "AS:1", s.Bandwidth[0])
	assert.Equal(t, "x", s.Media[0].Formats[0])
	assert.Equal(t, "AS:2", s.Media[0].Bandwidth[0])
	assert.Len(t, s.Media, 1)

	var nilSession *Session
	assert.Nil(t, nilSession.Clone())
}

func TestNextVersion(t *testing.T) {
	s, err := NewOffer(OfferOptions{Addr: ourAddr, Port: 4000})
	require.NoError(t, err)
	v := s.Origin.SessionVersion
	s.NextVersion()
	assert.Equal(t, v+1, s.Origin.SessionVersion)
	again, err := Parse(s.Marshal())
	require.NoError(t, err)
	assert.Equal(t, v+1, again.Origin.SessionVersion)
	assert.Equal(t, s.Origin.SessionID, again.Origin.SessionID)
}

func TestMarshalBuilt(t *testing.T) {
	s := &Session{
		Origin: Origin{Username: "my user", SessionID: 1, SessionVersion: 2},
		Addr:   ip("192.0.2.1"),
		Media: []Media{
			{Port: 4000, Codecs: []Codec{PCMU}, Addr: ip("192.0.2.1")}, // defaults: audio, RTP/AVP, no direction
			{Type: "audio", Port: 4002, Proto: "RTP/AVP", Codecs: []Codec{PCMA}, Direction: Inactive, Addr: ip("192.0.2.2"),
				Label: "evil\r\na=injected", Attributes: []Attribute{{"x-flag", ""}, {"x-kv", "1 2"}}},
			{Type: "audio", Port: 4004, Proto: "RTP/AVP", Codecs: []Codec{PCMA}}, // zero Addr: inherits session c=
		},
	}
	want := "v=0\r\no=my_user 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" +
		"m=audio 4002 RTP/AVP 8\r\nc=IN IP4 192.0.2.2\r\na=rtpmap:8 PCMA/8000\r\na=label:evil  a=injected\r\na=inactive\r\na=x-flag\r\na=x-kv:1 2\r\n" +
		"m=audio 4004 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
	assert.Equal(t, want, string(s.Marshal()))
	assert.Equal(t, want, s.String())

	p, err := Parse(s.Marshal())
	require.NoError(t, err)
	assert.Equal(t, ip("192.0.2.1"), p.Media[2].Addr)
	assert.Equal(t, SendRecv, p.Media[0].Direction)
}

func TestMarshalOriginFallback(t *testing.T) {
	s := &Session{Media: []Media{{Type: "audio", Port: 1, Addr: ip("2001:db8::9")}}}
	assert.Contains(t, s.String(), "o=- 0 0 IN IP6 2001:db8::9\r\n")
	s = &Session{}
	assert.Equal(t, "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", s.String())
}

func TestMediaHelpers(t *testing.T) {
	m := Media{Port: 4000, Addr: ip("192.0.2.1"), Codecs: []Codec{PCMU, te96}}
	assert.Equal(t, netip.MustParseAddrPort("192.0.2.1:4000"), m.RTPAddr())
	c, ok := m.Codec(96)
	assert.True(t, ok)
	assert.Equal(t, te96, c)
	_, ok = m.Codec(8)
	assert.False(t, ok)
	te, ok := m.TelephoneEvent()
	assert.True(t, ok)
	assert.Equal(t, uint8(96), te.PayloadType)
	_, ok = Media{Codecs: []Codec{PCMU}}.TelephoneEvent()
	assert.False(t, ok)
	_, ok = m.CryptoByTag(1)
	assert.False(t, ok)
	assert.False(t, m.IsSecure())
	assert.True(t, Media{Proto: "RTP/SAVPF"}.IsSecure())
	st, ok := StaticCodec(8)
	assert.True(t, ok)
	assert.Equal(t, PCMA, st)
	assert.True(t, PCMA.Matches(Codec{Name: "pcma", ClockRate: 8000}))
	assert.False(t, PCMA.Matches(Codec{Name: "PCMA", ClockRate: 16000}))
	assert.False(t, Codec{}.Matches(Codec{}))
}

func TestFollow(t *testing.T) {
	o := OfferOptions{Addr: ourAddr, Port: 4000}
	first, err := NewOffer(o)
	require.NoError(t, err)

	same, err := NewOffer(o)
	require.NoError(t, err)
	same.Origin.SessionID = first.Origin.SessionID + 1 // as a fresh random id would
	same.Follow(first)
	assert.Equal(t, first.Origin, same.Origin, "unchanged description keeps the version")

	o.Direction = SendOnly
	hold, err := NewOffer(o)
	require.NoError(t, err)
	hold.Follow(same)
	assert.Equal(t, first.Origin.SessionID, hold.Origin.SessionID)
	assert.Equal(t, first.Origin.SessionVersion+1, hold.Origin.SessionVersion)

	keep := hold.Origin
	hold.Follow(nil)
	assert.Equal(t, keep, hold.Origin)
}
