package sdp

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// SDES crypto suites (RFC 4568) whose keys this package handles.
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

// AES_CM_128 master key and salt sizes (RFC 3711).
const (
	aes128KeyLen  = 16
	aes128SaltLen = 14
)

// maxCryptoTag is the largest tag RFC 4568 allows (1*9DIGIT).
const maxCryptoTag = 999999999

// Crypto is one SDES a=crypto line (RFC 4568).
type Crypto struct {
	Tag   int
	Suite string
	// Key is the master key followed by the master salt: 30 bytes for the
	// AES_CM_128 suites.
	Key []byte
	// Params is everything after the base64 key, verbatim: lifetime and MKI
	// ("|2^31|1:1"), further keys (";inline:..."), session parameters
	// (" UNENCRYPTED_SRTCP"). Empty for keys we generate.
	Params string
}

// suiteKeyLen returns the master key||salt length of a supported suite.
func suiteKeyLen(suite string) (int, bool) {
	switch suite {
	case SuiteAES128SHA1_80, SuiteAES128SHA1_32:
		return aes128KeyLen + aes128SaltLen, true
	}
	return 0, false
}

// SupportedSuite reports whether NewCrypto and ParseCrypto handle suite.
func SupportedSuite(suite string) bool {
	_, ok := suiteKeyLen(suite)
	return ok
}

// NewCrypto returns a crypto line with a fresh random key of the suite's size.
func NewCrypto(tag int, suite string) (Crypto, error) {
	if tag < 0 || tag > maxCryptoTag {
		return Crypto{}, fmt.Errorf("%w: tag %d out of range", ErrBadCrypto, tag)
	}
	n, ok := suiteKeyLen(suite)
	if !ok {
		return Crypto{}, fmt.Errorf("%w: unsupported suite %q", ErrBadCrypto, suite)
	}
	key := make([]byte, n)
	if _, err := rand.Read(key); err != nil {
		return Crypto{}, fmt.Errorf("%w: generating key: %w", ErrBadCrypto, err)
	}
	return Crypto{Tag: tag, Suite: suite, Key: key}, nil
}

// String returns the attribute value: "1 AES_CM_128_HMAC_SHA1_80 inline:<base64>".
func (c Crypto) String() string {
	return strconv.Itoa(c.Tag) + " " + c.Suite + " inline:" +
		base64.StdEncoding.EncodeToString(c.Key) + c.Params
}

// MasterKey returns the master key part of Key (nil if Key is too short).
func (c Crypto) MasterKey() []byte {
	if len(c.Key) < aes128KeyLen {
		return nil
	}
	return c.Key[:aes128KeyLen]
}

// MasterSalt returns the master salt part of Key (nil if Key is too short).
func (c Crypto) MasterSalt() []byte {
	if len(c.Key) < aes128KeyLen+aes128SaltLen {
		return nil
	}
	return c.Key[aes128KeyLen : aes128KeyLen+aes128SaltLen]
}

// clone returns c with its own copy of Key.
func (c Crypto) clone() Crypto {
	if c.Key != nil {
		c.Key = append([]byte(nil), c.Key...)
	}
	return c
}

// ParseCrypto parses the value of an a=crypto attribute (without "a=crypto:").
// Only the suites this package supports are accepted; anything else, a bad
// tag, bad base64 or a key of the wrong length is ErrBadCrypto.
func ParseCrypto(value string) (Crypto, error) {
	tagStr, rest, ok := cutField(value)
	if !ok {
		return Crypto{}, fmt.Errorf("%w: missing suite in %q", ErrBadCrypto, value)
	}
	tag, ok := parseDigits(tagStr, maxCryptoTag)
	if !ok {
		return Crypto{}, fmt.Errorf("%w: bad tag %q", ErrBadCrypto, tagStr)
	}
	suite, rest, ok := cutField(rest)
	if !ok {
		return Crypto{}, fmt.Errorf("%w: missing key params in %q", ErrBadCrypto, value)
	}
	n, supported := suiteKeyLen(suite)
	if !supported {
		return Crypto{}, fmt.Errorf("%w: unsupported suite %q", ErrBadCrypto, suite)
	}
	const method = "inline:"
	if !strings.HasPrefix(rest, method) {
		return Crypto{}, fmt.Errorf("%w: key method is not inline", ErrBadCrypto)
	}
	rest = rest[len(method):]
	// The key ends at the lifetime/MKI separator, a further key or the
	// session parameters.
	end := strings.IndexAny(rest, "|; \t")
	if end < 0 {
		end = len(rest)
	}
	b64, params := rest[:end], rest[end:]
	// 30-byte keys encode to 40 characters without padding, so the
	// padding-dropping variant some stacks emit needs no special case.
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return Crypto{}, fmt.Errorf("%w: key is not base64: %w", ErrBadCrypto, err)
	}
	if len(key) != n {
		return Crypto{}, fmt.Errorf("%w: %s key is %d bytes, want %d", ErrBadCrypto, suite, len(key), n)
	}
	return Crypto{Tag: int(tag), Suite: suite, Key: key, Params: params}, nil
}

// cutField splits off the first whitespace-delimited field of s and returns
// the remainder with leading whitespace removed. ok is false when s has no
// first field or nothing after it.
func cutField(s string) (field, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i <= 0 {
		return s, "", false
	}
	rest = strings.TrimLeft(s[i:], " \t")
	return s[:i], rest, rest != ""
}
