package media

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/pion/srtp/v3"
)

// SDES crypto suite names (RFC 4568, RFC 6188), as they appear in a=crypto lines.
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
	SuiteAES256SHA1_80 = "AES_256_CM_HMAC_SHA1_80"
	SuiteAES256SHA1_32 = "AES_256_CM_HMAC_SHA1_32"
)

// srtpMaxOverhead bounds what SRTP appends to an RTP packet (auth tag; no MKI), so the write buffer always
// has room and EncryptRTP never allocates.
const srtpMaxOverhead = 16

type suiteInfo struct {
	profile         srtp.ProtectionProfile
	keyLen, saltLen int
}

var suites = map[string]suiteInfo{
	SuiteAES128SHA1_80: {srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14},
	SuiteAES128SHA1_32: {srtp.ProtectionProfileAes128CmHmacSha1_32, 16, 14},
	SuiteAES256SHA1_80: {srtp.ProtectionProfileAes256CmHmacSha1_80, 32, 14},
	SuiteAES256SHA1_32: {srtp.ProtectionProfileAes256CmHmacSha1_32, 32, 14},
}

// SRTPKeys is SDES key material for one direction of one stream: the suite and the master key followed by
// the master salt (30 bytes for the AES-128 suites, 46 for AES-256).
type SRTPKeys struct {
	Suite string
	Key   []byte
}

// NewSRTPKeys returns fresh random key material for suite.
func NewSRTPKeys(suite string) (*SRTPKeys, error) {
	info, ok := suites[suite]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSRTPSuite, suite)
	}
	key := make([]byte, info.keyLen+info.saltLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("media: srtp key: %w", err)
	}
	return &SRTPKeys{Suite: suite, Key: key}, nil
}

// ParseSRTPInline builds keys from an SDES a=crypto suite name and key-params value ("inline:<base64>"
// with optional "|lifetime" and "|MKI:len" parts; the "inline:" prefix itself is optional). Lifetimes are
// accepted and ignored (the lab never rekeys on packet count); an MKI is rejected because packets would
// carry it and this package does not.
func ParseSRTPInline(suite, keyParams string) (*SRTPKeys, error) {
	info, ok := suites[suite]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSRTPSuite, suite)
	}
	if len(keyParams) > 256 {
		return nil, fmt.Errorf("%w: key params too long", ErrSRTPKey)
	}
	b64, rest, _ := strings.Cut(strings.TrimPrefix(keyParams, "inline:"), "|")
	for _, part := range strings.Split(rest, "|") {
		if strings.Contains(part, ":") {
			return nil, fmt.Errorf("%w: MKI %q not supported", ErrSRTPKey, part)
		}
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// RFC 4568 says base64 with padding, but some peers drop it.
		key, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSRTPKey, err)
		}
	}
	if len(key) != info.keyLen+info.saltLen {
		return nil, fmt.Errorf("%w: %s needs %d bytes, got %d", ErrSRTPKey, suite, info.keyLen+info.saltLen, len(key))
	}
	return &SRTPKeys{Suite: suite, Key: key}, nil
}

// Inline returns the key as an SDES key-params value, "inline:<base64>".
func (k *SRTPKeys) Inline() string {
	return "inline:" + base64.StdEncoding.EncodeToString(k.Key)
}

// Validate checks the suite and the key length.
func (k *SRTPKeys) Validate() error {
	info, ok := suites[k.Suite]
	if !ok {
		return fmt.Errorf("%w: %q", ErrSRTPSuite, k.Suite)
	}
	if len(k.Key) != info.keyLen+info.saltLen {
		return fmt.Errorf("%w: %s needs %d bytes, got %d", ErrSRTPKey, k.Suite, info.keyLen+info.saltLen, len(k.Key))
	}
	return nil
}

// newContext creates a one-direction SRTP context. Replay protection stays off (the pion default): the
// Receiver counts duplicates itself, and a lab relay should show what the peer sent, not hide it.
func (k *SRTPKeys) newContext() (*srtp.Context, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	info := suites[k.Suite]
	ctx, err := srtp.CreateContext(k.Key[:info.keyLen], k.Key[info.keyLen:], info.profile)
	if err != nil {
		return nil, fmt.Errorf("media: srtp context: %w", err)
	}
	return ctx, nil
}
