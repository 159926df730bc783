package media

import (
	"encoding/hex"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fixedKey is deterministic SRTP key material for golden packets (bytes 0..29).
func fixedKey(suite string) *SRTPKeys {
	k := make([]byte, 30)
	for i := range k {
		k[i] = byte(i)
	}
	return &SRTPKeys{Suite: suite, Key: k}
}

// capture returns the datagrams a session writes during fn, one hex line each.
func capture(t *testing.T, cfg Config, fn func(s *Session)) string {
	t.Helper()
	raw := listen(t)
	defer raw.Close()
	cfg.Remote = addrOf(raw)
	cfg.SSRC = 0x11223344
	s := newSession(t, cfg)
	s.seq, s.ts = 0xfffe, 0xfffffff0 // wrap both during the capture
	fn(s)
	pk, _ := s.Sent()
	var sb strings.Builder
	buf := make([]byte, 2048)
	for range pk {
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := raw.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		sb.WriteString(hex.EncodeToString(buf[:n]))
		sb.WriteByte('\n')
	}
	return sb.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestGoldenPackets(t *testing.T) {
	frames := func(s *Session) {
		for i := range 3 {
			require.NoError(t, s.WriteFrame(frameOf(byte(0xf0 + i))[:8], 160, i == 0))
		}
	}
	t.Run("rtp", func(t *testing.T) {
		checkGolden(t, "rtp_pcmu.hex", capture(t, Config{PayloadType: 0}, frames))
	})
	t.Run("srtp_80", func(t *testing.T) {
		checkGolden(t, "srtp_aes128_80_pcma.hex",
			capture(t, Config{PayloadType: 8, SRTPSend: fixedKey(SuiteAES128SHA1_80)}, frames))
	})
	t.Run("srtp_32", func(t *testing.T) {
		checkGolden(t, "srtp_aes128_32_pcma.hex",
			capture(t, Config{PayloadType: 8, SRTPSend: fixedKey(SuiteAES128SHA1_32)}, frames))
	})
	t.Run("dtmf", func(t *testing.T) {
		checkGolden(t, "dtmf_5_40ms.hex", capture(t, Config{}, func(s *Session) {
			require.NoError(t, s.WriteEvent(DTMFEvent{Digit: '5', Duration: 40 * time.Millisecond, Volume: 10}))
			require.NoError(t, s.WriteFrame(frameOf(0xff)[:4], 160, false))
		}))
	})
}

// FuzzDecode feeds arbitrary datagrams through the receive path, plain and SRTP: no panic, and anything
// accepted is a version-2 RTP packet whose payload lies inside the datagram.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"rtp_pcmu.hex", "srtp_aes128_80_pcma.hex", "dtmf_5_40ms.hex"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			for _, line := range strings.Fields(string(b)) {
				if p, err := hex.DecodeString(line); err == nil {
					f.Add(p)
				}
			}
		}
	}
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0xbf, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0})

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(f, err)
	plain, err := NewSession(Config{Conn: c})
	require.NoError(f, err)
	f.Cleanup(func() { _ = plain.Close() })
	c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(f, err)
	secure, err := NewSession(Config{Conn: c2, SRTPRecv: fixedKey(SuiteAES128SHA1_80)})
	require.NoError(f, err)
	f.Cleanup(func() { _ = secure.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []*Session{plain, secure} {
			buf := append([]byte(nil), data...)
			var pkt rtp.Packet
			if err := s.decode(buf, &pkt); err != nil {
				continue
			}
			require.Equal(t, uint8(2), pkt.Version)
			require.LessOrEqual(t, len(pkt.Payload), len(data))
			require.False(t, pkt.PayloadType >= 72 && pkt.PayloadType <= 76)
			var r Receiver
			r.Observe(&pkt.Header, len(pkt.Payload), time.Now(), 8000)
		}
	})
}
