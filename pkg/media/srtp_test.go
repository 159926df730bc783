package media

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSRTPInline(t *testing.T) {
	key30 := "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz" // RFC 4568 example, 30 bytes
	tests := []struct {
		name, suite, params string
		err                 error
	}{
		{"rfc 4568 example", SuiteAES128SHA1_80, "inline:" + key30 + "|2^20|1:4", ErrSRTPKey}, // has MKI
		{"with lifetime", SuiteAES128SHA1_80, "inline:" + key30 + "|2^20", nil},
		{"plain", SuiteAES128SHA1_32, "inline:" + key30, nil},
		{"no prefix", SuiteAES128SHA1_80, key30, nil},
		{"unknown suite", "F8_128_HMAC_SHA1_80", "inline:" + key30, ErrSRTPSuite},
		{"short key", SuiteAES128SHA1_80, "inline:AAAA", ErrSRTPKey},
		{"wrong length for 256", SuiteAES256SHA1_80, "inline:" + key30, ErrSRTPKey},
		{"not base64", SuiteAES128SHA1_80, "inline:!!!", ErrSRTPKey},
		{"too long", SuiteAES128SHA1_80, "inline:" + strings.Repeat("A", 300), ErrSRTPKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseSRTPInline(tc.suite, tc.params)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, k.Key, 30)
			assert.Equal(t, tc.suite, k.Suite)
			assert.Equal(t, "inline:"+key30, k.Inline())
			require.NoError(t, k.Validate())
		})
	}
	// Unpadded base64 from sloppy peers.
	k, err := NewSRTPKeys(SuiteAES128SHA1_80)
	require.NoError(t, err)
	back, err := ParseSRTPInline(SuiteAES128SHA1_80, strings.TrimRight(k.Inline(), "="))
	require.NoError(t, err)
	assert.Equal(t, k.Key, back.Key)

	_, err = NewSRTPKeys("nope")
	require.ErrorIs(t, err, ErrSRTPSuite)
	k256, err := NewSRTPKeys(SuiteAES256SHA1_32)
	require.NoError(t, err)
	assert.Len(t, k256.Key, 46)
}

// refSRTP is an independent RFC 3711 AES-CM/HMAC-SHA1 implementation (key derivation rate 0, ROC 0) on top
// of the standard library, so the tests prove wire compatibility rather than pion agreeing with itself.
type refSRTP struct {
	block   cipher.Block
	salt    []byte
	authKey []byte
	tagLen  int
}

func newRefSRTP(t *testing.T, master []byte, tagLen int) refSRTP {
	t.Helper()
	key, salt := master[:16], master[16:30]
	mblock, err := aes.NewCipher(key)
	require.NoError(t, err)
	derive := func(label byte, n int) []byte {
		iv := make([]byte, 16)
		copy(iv, salt)
		iv[7] ^= label // key_id = label || r (r = 0), right-aligned against the 112-bit salt
		out := make([]byte, n)
		cipher.NewCTR(mblock, iv).XORKeyStream(out, out)
		return out
	}
	block, err := aes.NewCipher(derive(0x00, 16))
	require.NoError(t, err)
	return refSRTP{block: block, authKey: derive(0x01, 20), salt: derive(0x02, 14), tagLen: tagLen}
}

func (r refSRTP) keystream(ssrc uint32, seq uint16, data []byte) {
	iv := make([]byte, 16)
	copy(iv, r.salt)
	var x [16]byte
	binary.BigEndian.PutUint32(x[4:], ssrc)
	binary.BigEndian.PutUint16(x[12:], seq) // index = ROC(0) || SEQ, shifted left 16 bits
	for i := range iv {
		iv[i] ^= x[i]
	}
	cipher.NewCTR(r.block, iv).XORKeyStream(data, data)
}

func (r refSRTP) tag(authenticated []byte) []byte {
	m := hmac.New(sha1.New, r.authKey)
	m.Write(authenticated)
	m.Write([]byte{0, 0, 0, 0}) // ROC
	return m.Sum(nil)[:r.tagLen]
}

// decrypt checks the tag and returns the plain packet.
func (r refSRTP) decrypt(t *testing.T, pkt []byte) []byte {
	t.Helper()
	body, tag := pkt[:len(pkt)-r.tagLen], pkt[len(pkt)-r.tagLen:]
	require.True(t, hmac.Equal(tag, r.tag(body)), "auth tag")
	var h rtp.Header
	n, err := h.Unmarshal(body)
	require.NoError(t, err)
	out := append([]byte(nil), body...)
	r.keystream(h.SSRC, h.SequenceNumber, out[n:])
	return out
}

func (r refSRTP) encrypt(t *testing.T, plain []byte) []byte {
	t.Helper()
	var h rtp.Header
	n, err := h.Unmarshal(plain)
	require.NoError(t, err)
	out := append([]byte(nil), plain...)
	r.keystream(h.SSRC, h.SequenceNumber, out[n:])
	return append(out, r.tag(out)...)
}

func TestSRTPWireCompatibleWithRFC3711(t *testing.T) {
	for _, tc := range []struct {
		suite  string
		tagLen int
	}{{SuiteAES128SHA1_80, 10}, {SuiteAES128SHA1_32, 4}} {
		t.Run(tc.suite, func(t *testing.T) {
			k, err := NewSRTPKeys(tc.suite)
			require.NoError(t, err)
			ref := newRefSRTP(t, k.Key, tc.tagLen)

			raw := listen(t)
			defer raw.Close()
			s := newSession(t, Config{Remote: addrOf(raw), SRTPSend: k, SRTPRecv: k})
			s.seq = 1000 // stay clear of a wrap so the reference can keep ROC 0

			// Our packets decrypt with the reference.
			payload := frameOf(0x5a)
			require.NoError(t, s.WriteFrame(payload, 160, true))
			buf := make([]byte, 2048)
			require.NoError(t, raw.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, _, err := raw.ReadFromUDPAddrPort(buf)
			require.NoError(t, err)
			plain := ref.decrypt(t, buf[:n])
			var p rtp.Packet
			require.NoError(t, p.Unmarshal(plain))
			assert.Equal(t, payload, p.Payload)
			assert.Equal(t, s.SSRC(), p.SSRC)
			assert.True(t, p.Marker)

			// Reference packets decrypt in the session.
			ch := reader(t, s)
			in := rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 77, Timestamp: 1234, SSRC: 0xcafe},
				Payload: frameOf(0x33),
			}
			wire, err := in.Marshal()
			require.NoError(t, err)
			_, err = raw.WriteToUDPAddrPort(ref.encrypt(t, wire), s.LocalAddr())
			require.NoError(t, err)
			got := next(t, ch)
			assert.Equal(t, frameOf(0x33), got.payload)
			assert.Equal(t, uint8(8), got.hdr.PT)

			// One flipped bit fails authentication: dropped, not delivered.
			bad := ref.encrypt(t, wire)
			bad[len(bad)-1] ^= 1
			_, err = raw.WriteToUDPAddrPort(bad, s.LocalAddr())
			require.NoError(t, err)
			eventually(t, func() bool { return s.DropCount() == 1 }, "tampered packet dropped")
		})
	}
}
