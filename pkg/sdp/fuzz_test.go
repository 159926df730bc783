package sdp

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// marshals to SDP that parses back to an equal Session and marshals stably.
func FuzzParse(f *testing.F) {
	for _, file := range deviceFiles(f) {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("v=0\nm=audio 1 RTP/AVP 0 0 96\na=rtpmap:96 x/1/2\na=fmtp:96 y\na=label:\na=sendonly:\n"))
	f.Add([]byte("v=0\no=a 1 2 IN IP6 fe80::1%eth0\nc=IN IP6 ::ffff:1.2.3.4/5\nm=image 0 udptl t38 *\nb=AS:1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			require.Nil(t, s)
			return
		}
		out := s.Marshal()
		if len(out) > MaxSize {
			// Filling in rtpmap and direction lines can grow a body
			// close to the limit past it.
			return
		}
		again, err := Parse(out)
		require.NoError(t, err, "marshalled:\n%s", out)
		require.Equal(t, s, again, "marshalled:\n%s", out)
		require.Equal(t, string(out), string(again.Marshal()))
	})
}

// FuzzParseCrypto checks that ParseCrypto never panics and round-trips.
func FuzzParseCrypto(f *testing.F) {
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:WYTt8DPVyEpxyuTB5rRy6J0AzMp+JZ1yljFCwaKG|2^20|1:4")
	f.Add("2 AES_CM_128_HMAC_SHA1_32 inline:WYTt8DPVyEpxyuTB5rRy6J0AzMp+JZ1yljFCwaKG KDR=1")
	f.Add("x")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCrypto(v)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCrypto)
			return
		}
		again, err := ParseCrypto(c.String())
		require.NoError(t, err)
		require.Equal(t, c, again)
	})
}
