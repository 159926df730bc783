package mediaserver

import (
	"fmt"

	"github.com/pion/srtp/v3"

	"github.com/arlab/arlab/pkg/sdp"
)

// newSRTPContext creates a one-direction SRTP context from an SDES crypto
// line. Replay protection stays off (the pion default): a relay forwards what
// it gets and the far end keeps its own statistics.
func newSRTPContext(c sdp.Crypto) (*srtp.Context, error) {
	var profile srtp.ProtectionProfile
	switch c.Suite {
	case sdp.SuiteAES128SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	case sdp.SuiteAES128SHA1_32:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_32
	default:
		return nil, fmt.Errorf("%w: suite %s", sdp.ErrBadCrypto, c.Suite)
	}
	key, salt := c.MasterKey(), c.MasterSalt()
	if key == nil || salt == nil {
		return nil, fmt.Errorf("%w: short key", sdp.ErrBadCrypto)
	}
	ctx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		return nil, fmt.Errorf("mediaserver: srtp context: %w", err)
	}
	return ctx, nil
}
