package sdp

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ip = netip.MustParseAddr

// crlf turns a readable LF literal into a CRLF SDP body.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseDevices(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, s *Session)
	}{
		{"cisco_cube.sdp", func(t *testing.T, s *Session) {
			assert.Equal(t, "CiscoSystemsSIP-GW-UserAgent", s.Origin.Username)
			assert.Equal(t, uint64(8923), s.Origin.SessionVersion)
			a, ok := s.Audio()
			require.True(t, ok)
			assert.Equal(t, netip.MustParseAddrPort("192.0.2.10:16434"), a.RTPAddr())
			assert.Equal(t, []Codec{PCMU, TelephoneEvent, {19, "CN", 8000, 1, ""}}, a.Codecs)
			assert.Equal(t, 20, a.Ptime)
			assert.Equal(t, SendRecv, a.Direction)
			assert.False(t, s.IsHold())
		}},
		{"polycom_vvx.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			assert.Equal(t, SendRecv, a.Direction, "session-level a=sendrecv")
			assert.Empty(t, s.Attributes, "session direction is folded into media")
			c, ok := a.Codec(18)
			require.True(t, ok)
			assert.Equal(t, Codec{18, "G729", 8000, 1, "annexb=no"}, c)
			te, ok := a.TelephoneEvent()
			require.True(t, ok)
			assert.Equal(t, uint8(127), te.PayloadType)
		}},
		{"polycom_srtp.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			assert.Equal(t, "RTP/SAVP", a.Proto)
			assert.True(t, a.IsSecure())
			require.Len(t, a.Crypto, 2)
			assert.Equal(t, SuiteAES128SHA1_80, a.Crypto[0].Suite)
			assert.Equal(t, "|2^31", a.Crypto[0].Params)
			assert.Equal(t, 2, a.Crypto[1].Tag)
			assert.Len(t, a.Crypto[1].Key, 30)
		}},
		{"yealink_t46.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			c, _ := a.Codec(101)
			assert.Equal(t, Codec{101, "telephone-event", 8000, 1, "0-15"}, c, "fmtp before rtpmap")
		}},
		{"linphone.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			assert.Len(t, a.Codecs, 9)
			c, _ := a.Codec(96)
			assert.Equal(t, Codec{96, "opus", 48000, 2, "useinbandfec=1"}, c)
			c, _ = a.Codec(18)
			assert.Equal(t, Codec{18, "G729", 8000, 1, "annexb=yes"}, c, "static type with fmtp, no rtpmap")
			te, _ := a.TelephoneEvent()
			assert.Equal(t, uint8(100), te.PayloadType, "the 8 kHz one")
			v, ok := s.Attribute("record")
			assert.True(t, ok)
			assert.Equal(t, "off", v)
		}},
		{"baresip.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			assert.Equal(t, []string{"AS:96"}, a.Bandwidth)
			v, _ := a.Attribute("ssrc")
			assert.Equal(t, "1853215132 cname:0ea4b3c0-5f1b-4a5e-8c1d-2a3b4c5d6e7f", v)
		}},
		{"asterisk.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			assert.Equal(t, []Attribute{{"maxptime", "150"}}, a.Attributes)
		}},
		{"freeswitch_srtp.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			require.Len(t, a.Crypto, 2, "only the AES_CM_128 lines are interpreted")
			assert.Equal(t, []int{3, 4}, []int{a.Crypto[0].Tag, a.Crypto[1].Tag})
			var raw int
			for _, at := range a.Attributes {
				if at.Key == "crypto" {
					raw++
				}
			}
			assert.Equal(t, 2, raw, "unsupported suites kept verbatim")
			c, _ := a.Codec(96)
			assert.True(t, c.IsTelephoneEvent())
		}},
		{"audiocodes_siprec.sdp", func(t *testing.T, s *Session) {
			require.Len(t, s.Media, 2)
			for i, m := range s.Media {
				assert.Equal(t, SendOnly, m.Direction)
				assert.Equal(t, []string{"1", "2"}[i], m.Label)
				assert.Equal(t, []Codec{PCMA, {96, "telephone-event", 8000, 1, "0-15"}}, m.Codecs)
			}
			assert.True(t, s.IsHold(), "sendonly first audio reads as hold; SIPREC callers look at labels instead")
		}},
		{"oracle_sbc_siprec.sdp", func(t *testing.T, s *Session) {
			require.Len(t, s.Media, 2)
			assert.Equal(t, "923854", s.Media[0].Label)
			assert.Equal(t, "923855", s.Media[1].Label)
			assert.Equal(t, 20002, s.Media[1].Port)
			assert.Equal(t, ip("192.0.2.81"), s.Media[1].Addr)
		}},
		{"sipp_default.sdp", func(t *testing.T, s *Session) {
			a, ok := s.Audio()
			require.True(t, ok)
			assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:6000"), a.RTPAddr())
			assert.Equal(t, []Codec{PCMU}, a.Codecs)
		}},
		{"webrtc_gateway.sdp", func(t *testing.T, s *Session) {
			assert.False(t, s.Addr.IsValid(), "no session c=")
			a, _ := s.Audio()
			assert.Equal(t, "UDP/TLS/RTP/SAVPF", a.Proto)
			assert.True(t, a.RTCPMux)
			assert.Equal(t, ip("203.0.113.9"), a.Addr)
			v, _ := s.Attribute("group")
			assert.Equal(t, "BUNDLE 0", v)
			v, _ = a.Attribute("fingerprint")
			assert.True(t, strings.HasPrefix(v, "sha-256 D2:FA"))
		}},
		{"rtcpmux_rtp_avp.sdp", func(t *testing.T, s *Session) {
			a, _ := s.Audio()
			assert.True(t, a.RTCPMux)
			assert.Empty(t, a.Attributes)
		}},
		{"media_level_c.sdp", func(t *testing.T, s *Session) {
			assert.False(t, s.Addr.IsValid())
			require.Len(t, s.Media, 2)
			assert.Equal(t, ip("192.0.2.92"), s.Media[0].Addr)
			assert.Equal(t, "video", s.Media[1].Type)
			assert.Equal(t, ip("192.0.2.93"), s.Media[1].Addr)
			assert.Equal(t, []string{"AS:512"}, s.Media[1].Bandwidth)
			assert.Equal(t, Codec{96, "H264", 90000, 1, "profile-level-id=42e01f;packetization-mode=1"}, s.Media[1].Codecs[0])
		}},
		{"lf_only.sdp", func(t *testing.T, s *Session) {
			assert.Equal(t, "-", s.Name, "missing s= defaults to -")
			a, _ := s.Audio()
			assert.Equal(t, []Codec{PCMA, {101, "telephone-event", 8000, 1, "0-15"}}, a.Codecs)
		}},
		{"out_of_order.sdp", func(t *testing.T, s *Session) {
			assert.Equal(t, "out of order", s.Name)
			assert.Equal(t, ip("192.0.2.121"), s.Addr, "c= after t=")
			assert.Equal(t, []string{"CT:128"}, s.Bandwidth)
			a, _ := s.Audio()
			assert.Equal(t, ip("192.0.2.122"), a.Addr, "lower-case media c= after a=")
			assert.Equal(t, 30, a.Ptime, "last line without newline")
			assert.Equal(t, []Codec{PCMU, PCMA}, a.Codecs)
		}},
		{"hold_c0.sdp", func(t *testing.T, s *Session) {
			assert.True(t, s.IsHold())
			a, ok := s.Audio()
			require.True(t, ok)
			assert.True(t, a.Addr.IsUnspecified())
		}},
		{"hold_sendonly.sdp", func(t *testing.T, s *Session) {
			assert.True(t, s.IsHold())
			a, _ := s.Audio()
			assert.Equal(t, SendOnly, a.Direction, "session-level direction applies")
		}},
		{"t38_reinvite.sdp", func(t *testing.T, s *Session) {
			require.Len(t, s.Media, 2)
			_, ok := s.Audio()
			assert.False(t, ok, "audio disabled")
			assert.True(t, s.IsHold(), "port 0")
			img := s.Media[1]
			assert.Equal(t, "image", img.Type)
			assert.Equal(t, "udptl", img.Proto)
			assert.Equal(t, []string{"t38"}, img.Formats)
			assert.Nil(t, img.Codecs)
			v, _ := img.Attribute("T38MaxBitRate")
			assert.Equal(t, "14400", v)
		}},
		{"ipv6_linphone.sdp", func(t *testing.T, s *Session) {
			assert.Equal(t, ip("2001:db8::1"), s.Origin.Addr)
			a, _ := s.Audio()
			assert.Equal(t, netip.MustParseAddrPort("[2001:db8::1]:7078"), a.RTPAddr())
			assert.Equal(t, []Codec{PCMU, PCMA, {101, "telephone-event", 8000, 1, ""}}, a.Codecs)
		}},
		{"srtp_besteffort_2m.sdp", func(t *testing.T, s *Session) {
			require.Len(t, s.Media, 2)
			require.Len(t, s.Media[0].Crypto, 1)
			assert.Equal(t, "|2^20|1:4", s.Media[0].Crypto[0].Params)
			assert.Equal(t, "RTP/AVP", s.Media[1].Proto)
		}},
	}
	files := map[string]bool{}
	for _, f := range deviceFiles(t) {
		files[strings.TrimPrefix(f, "testdata/")] = true
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			require.True(t, files[tc.file], "missing testdata file")
			delete(files, tc.file)
			tc.check(t, loadSession(t, tc.file))
		})
	}
	assert.Empty(t, files, "testdata files without device checks")
}

// TestParseInterpretation covers the first-wins and keep-verbatim rules.
func TestParseInterpretation(t *testing.T) {
	s, err := Parse(crlf(`v=0
o=- 1 1 IN IP4 192.0.2.1
s=x
c=IN IP4 192.0.2.1
t=0 0
a=inactive
a=sendonly
m=audio 4000 RTP/AVP 0 96 96 97 0
a=rtpmap:96 telephone-event/8000
a=rtpmap:96 other/8000
a=rtpmap:98 notlisted/8000
a=rtpmap:97 broken
a=fmtp:96
a=fmtp:96 0-15
a=fmtp:96 0-11
a=label:
a=label:first
a=label:second
a=ptime:abc
a=ptime:30
a=ptime:40
a=rtcp-mux
a=rtcp-mux
a=rtcp-mux:junk
a=crypto:9 F8_128_HMAC_SHA1_80 inline:AAAA
a=recvonly
a=sendrecv
a=sendonly:x
a=x-vendor
a=x-other:
`))
	require.NoError(t, err)
	require.Len(t, s.Media, 1)
	m := s.Media[0]
	assert.Equal(t, []Codec{PCMU, {96, "telephone-event", 8000, 1, "0-15"}, {97, "", 0, 0, ""}}, m.Codecs,
		"duplicate payload types dropped, unmapped dynamic type kept bare")
	assert.Equal(t, "first", m.Label)
	assert.Equal(t, 30, m.Ptime)
	assert.True(t, m.RTCPMux)
	assert.Equal(t, RecvOnly, m.Direction, "media direction beats session direction")
	assert.Equal(t, []Attribute{
		{"rtpmap", "96 other/8000"},
		{"rtpmap", "98 notlisted/8000"},
		{"rtpmap", "97 broken"},
		{"fmtp", "96"},
		{"fmtp", "96 0-11"},
		{"label", ""},
		{"label", "second"},
		{"ptime", "abc"},
		{"ptime", "40"},
		{"rtcp-mux", "junk"},
		{"crypto", "9 F8_128_HMAC_SHA1_80 inline:AAAA"},
		{"sendonly", "x"},
		{"x-vendor", ""},
		{"x-other", ""},
	}, m.Attributes)
	assert.Empty(t, s.Attributes)

	again, err := Parse(s.Marshal())
	require.NoError(t, err)
	assert.Equal(t, s, again)
}

func TestParseTolerance(t *testing.T) {
	tests := []struct {
		name  string
		sdp   string
		check func(t *testing.T, s *Session)
	}{
		{"bare CR line ends", "v=0\ro=- 1 1 IN IP4 192.0.2.1\rs=-\rc=IN IP4 192.0.2.1\rt=0 0\rm=audio 1 RTP/AVP 8\r",
			func(t *testing.T, s *Session) {
				a, _ := s.Audio()
				assert.Equal(t, []Codec{PCMA}, a.Codecs)
			}},
		{"missing o=", "v=0\nc=IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, Origin{Username: "-", Addr: netip.IPv4Unspecified()}, s.Origin)
			}},
		{"o= without address", "v=0\no=- 5 6 IN\nc=IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, netip.IPv4Unspecified(), s.Origin.Addr)
				assert.Equal(t, uint64(6), s.Origin.SessionVersion)
			}},
		{"o= host name", "v=0\no=- 5 6 IN IP6 host.example\nc=IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, netip.IPv6Unspecified(), s.Origin.Addr)
			}},
		{"multicast ttl", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 224.2.1.1/127/2\nt=0 0\nm=audio 1 RTP/AVP 0\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, ip("224.2.1.1"), s.Addr)
			}},
		{"c= without address is ignored", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4\nm=audio 1 RTP/AVP 0\nc=IN IP4 192.0.2.7\n",
			func(t *testing.T, s *Session) {
				assert.False(t, s.Addr.IsValid())
				assert.Equal(t, ip("192.0.2.7"), s.Media[0].Addr)
			}},
		{"no c= anywhere", "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 0 RTP/AVP 0\n",
			func(t *testing.T, s *Session) {
				assert.False(t, s.Media[0].Addr.IsValid())
			}},
		{"second c= ignored", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.8\nc=IN IP4 192.0.2.9\nm=audio 1 RTP/AVP 0\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, ip("192.0.2.8"), s.Addr)
			}},
		{"session lines dropped", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\ni=info\nu=%%%bad-url\ne=a@b\np=+1\nt=123 456\nr=7d 1h 0 25h\nz=2882844526 -1h\nk=clear:x\nc=IN IP4 192.0.2.1\nx=unknown\nm=audio 1 RTP/AVP 0\ni=title\nk=prompt\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, ip("192.0.2.1"), s.Addr)
				assert.Empty(t, s.Media[0].Attributes)
			}},
		{"no media", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n",
			func(t *testing.T, s *Session) {
				assert.Empty(t, s.Media)
				_, ok := s.Audio()
				assert.False(t, ok)
				assert.False(t, s.IsHold())
			}},
		{"static types outside the table", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 2 19 127\n",
			func(t *testing.T, s *Session) {
				assert.Equal(t, []Codec{{PayloadType: 2}, {PayloadType: 19}, {PayloadType: 127}}, s.Media[0].Codecs)
			}},
		{"port range and non-RTP formats", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=application 5000/2 TCP/BFCP * 128 0\n",
			func(t *testing.T, s *Session) {
				m := s.Media[0]
				assert.Equal(t, 5000, m.Port)
				assert.Equal(t, "TCP/BFCP", m.Proto)
				assert.Equal(t, []string{"*", "128"}, m.Formats)
				assert.Equal(t, []Codec{PCMU}, m.Codecs)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.sdp))
			require.NoError(t, err)
			tc.check(t, s)
			again, err := Parse(s.Marshal())
			require.NoError(t, err)
			assert.Equal(t, s, again)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		sdp  string
	}{
		{"empty", ""},
		{"blank lines", "\r\n\r\n"},
		{"no v=", "o=- 1 1 IN IP4 192.0.2.1\ns=-\nm=audio 1 RTP/AVP 0\n"},
		{"version 1", "v=1\no=- 1 1 IN IP4 192.0.2.1\n"},
		{"two v=", "v=0\nv=0\no=- 1 1 IN IP4 192.0.2.1\n"},
		{"v= in media", "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\nv=0\n"},
		{"o= in media", "v=0\nm=audio 1 RTP/AVP 0\no=- 1 1 IN IP4 192.0.2.1\n"},
		{"not a line", "v=0\no=- 1 1 IN IP4 192.0.2.1\nhello world\n"},
		{"multipart boundary", "--boundary\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"},
		{"short o=", "v=0\no=- 1\n"},
		{"o= non-numeric id", "v=0\no=- abc 1 IN IP4 192.0.2.1\n"},
		{"o= bad net type", "v=0\no=- 1 1 XX IP4 192.0.2.1\n"},
		{"c= host name", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 media.example.com\nm=audio 1 RTP/AVP 0\n"},
		{"media c= garbage", "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\nc=IN IP4 1.2.3\n"},
		{"c= bad addr type", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IPX 192.0.2.1\n"},
		{"c= one field", "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN\n"},
		{"short m=", "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1\n"},
		{"port too large", "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 70000 RTP/AVP 0\n"},
		{"port not a number", "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio x RTP/AVP 0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.sdp))
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, s)
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n"
	pad := "a=x-pad:" + strings.Repeat("p", 100) + "\r\n"
	body := head
	for len(body)+len(pad) <= MaxSize {
		body += pad
	}
	body += "a=" + strings.Repeat("z", MaxSize-len(body)-2) // last line without CRLF
	require.Len(t, body, MaxSize)
	s, err := Parse([]byte(body))
	require.NoError(t, err, "exactly MaxSize is accepted")
	assert.NotEmpty(t, s.Media[0].Attributes)

	_, err = Parse([]byte(body + "a"))
	require.ErrorIs(t, err, ErrTooLarge)
	assert.NotErrorIs(t, err, ErrMalformed)
}
