package sdp

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCryptoRoundTrip(t *testing.T) {
	for _, suite := range []string{SuiteAES128SHA1_80, SuiteAES128SHA1_32} {
		t.Run(suite, func(t *testing.T) {
			c, err := NewCrypto(7, suite)
			require.NoError(t, err)
			assert.Len(t, c.Key, 30)
			assert.Len(t, c.MasterKey(), 16)
			assert.Len(t, c.MasterSalt(), 14)
			assert.Equal(t, c.Key, append(append([]byte(nil), c.MasterKey()...), c.MasterSalt()...))

			s := c.String()
			assert.True(t, strings.HasPrefix(s, "7 "+suite+" inline:"), s)
			got, err := ParseCrypto(s)
			require.NoError(t, err)
			assert.Equal(t, c, got)

			other, err := NewCrypto(7, suite)
			require.NoError(t, err)
			assert.False(t, bytes.Equal(c.Key, other.Key), "keys are random")
		})
	}
}

func TestParseCrypto(t *testing.T) {
	key := "WYTt8DPVyEpxyuTB5rRy6J0AzMp+JZ1yljFCwaKG"
	raw, err := base64.StdEncoding.DecodeString(key)
	require.NoError(t, err)
	tests := []struct {
		value string
		want  Crypto
	}{
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + key, Crypto{1, SuiteAES128SHA1_80, raw, ""}},
		{"2 AES_CM_128_HMAC_SHA1_32 inline:" + key + "|2^20|1:4", Crypto{2, SuiteAES128SHA1_32, raw, "|2^20|1:4"}},
		{"3  AES_CM_128_HMAC_SHA1_80\tinline:" + key + " UNENCRYPTED_SRTCP", Crypto{3, SuiteAES128SHA1_80, raw, " UNENCRYPTED_SRTCP"}},
		{"4 AES_CM_128_HMAC_SHA1_80 inline:" + key + ";inline:" + key, Crypto{4, SuiteAES128SHA1_80, raw, ";inline:" + key}},
		{"0 AES_CM_128_HMAC_SHA1_80 inline:" + key, Crypto{0, SuiteAES128SHA1_80, raw, ""}},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			got, err := ParseCrypto(tc.value)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := ParseCrypto(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestParseCryptoErrors(t *testing.T) {
	key := "WYTt8DPVyEpxyuTB5rRy6J0AzMp+JZ1yljFCwaKG"
	tests := map[string]string{
		"empty":           "",
		"tag only":        "1",
		"no key params":   "1 AES_CM_128_HMAC_SHA1_80",
		"bad tag":         "x AES_CM_128_HMAC_SHA1_80 inline:" + key,
		"negative tag":    "-1 AES_CM_128_HMAC_SHA1_80 inline:" + key,
		"tag too long":    "1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + key,
		"unknown suite":   "1 AES_256_CM_HMAC_SHA1_80 inline:" + key,
		"gcm suite":       "1 AEAD_AES_128_GCM inline:" + key,
		"not inline":      "1 AES_CM_128_HMAC_SHA1_80 uri:" + key,
		"bad base64":      "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!TtDPVyEpxyuTB5rRy6J0AzMp+JZ1yljFCwaKG",
		"short key":       "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(make([]byte, 29)),
		"long key":        "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(make([]byte, 46)),
		"empty key":       "1 AES_CM_128_HMAC_SHA1_80 inline:|2^20",
		"unpadded short":  "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.RawStdEncoding.EncodeToString(make([]byte, 31)),
		"lower-case name": "1 aes_cm_128_hmac_sha1_80 inline:" + key,
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCrypto(value)
			require.ErrorIs(t, err, ErrBadCrypto)
		})
	}
}

func TestNewCryptoErrors(t *testing.T) {
	_, err := NewCrypto(1, "AES_256_CM_HMAC_SHA1_80")
	require.ErrorIs(t, err, ErrBadCrypto)
	_, err = NewCrypto(-1, SuiteAES128SHA1_80)
	require.ErrorIs(t, err, ErrBadCrypto)
	_, err = NewCrypto(1_000_000_000, SuiteAES128SHA1_80)
	require.ErrorIs(t, err, ErrBadCrypto)
	assert.Nil(t, Crypto{Key: []byte{1}}.MasterKey())
	assert.Nil(t, Crypto{Key: make([]byte, 20)}.MasterSalt())
}
