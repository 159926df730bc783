package mediaserver

import (
	"github.com/arlab/arlab/pkg/sipx"

	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
)

// Pause modes: how a paused recording looks to the recorder.
const (
	// PauseReinviteInactive stops copying RTP, then re-INVITEs the recording
	// session with a=inactive (PCI-safe: nothing leaves after the request).
	PauseReinviteInactive = "reinvite-inactive"
	// PauseStopRTP stops copying RTP without signalling.
	PauseStopRTP = "stop-rtp"
	// PauseSilence keeps the streams running with G.711 silence in place of
	// the parties' audio.
	PauseSilence = "silence"
)

// Listen holds the SIP listen addresses ("" = transport off).
type Listen = sipx.ListenConfig

// PortRange is an inclusive UDP port range; both zero means ports chosen by
// the operating system.
type PortRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// Config is one entry of `mediaservers:` in the lab config.
type Config struct {
	Name string `yaml:"name"`
	SIP  Listen `yaml:"sip"`
	// HTTP is the listen address of /healthz, /metrics and /api/conferences
	// ("" = no HTTP).
	HTTP     string    `yaml:"http"`
	RTPPorts PortRange `yaml:"rtp-ports"`
	// AdvertiseAddr is the IP put in SDP and Contact headers; "" = the IP of
	// the first SIP listener.
	AdvertiseAddr string `yaml:"advertise-addr"`

	// ResourceManager is the SIP address (ip:port) recording-session INVITEs
	// are sent through, unless a destination is marked direct; "" sends each
	// INVITE to its destination's host.
	ResourceManager string `yaml:"resource-manager"`
	// DefaultDestination is where a record request without <dest> records
	// (a SIP URI, usually the Resource Manager's recorder group).
	DefaultDestination string `yaml:"default-destination"`
	// RecordMode is the default recording protocol: siprec | genesys.
	RecordMode string `yaml:"record-mode"`
	// SessionLayout is the default: single (one session, one m-line per party)
	// | per-party (one session per party).
	SessionLayout string `yaml:"session-layout"`
	// PauseMode is reinvite-inactive | stop-rtp | silence.
	PauseMode string `yaml:"pause-mode"`
	// LocalDir holds local (file:) recordings; a file: destination must lie
	// under it.
	LocalDir string `yaml:"local-dir"`
	// SRTP towards recorders by default: off | sdes.
	SRTP string `yaml:"srtp"`
	// Transport towards recorders by default: udp | tcp | tls. SIPREC
	// INVITEs exceed 1300 bytes, hence TCP.
	Transport string `yaml:"transport"`
	// Failover re-establishes a failed recording session through the
	// Resource Manager under the same recording id.
	Failover bool `yaml:"failover"`
	// InviteTimeout bounds a recording-session INVITE (longer than the
	// Resource Manager's own failover across recorders).
	InviteTimeout time.Duration `yaml:"invite-timeout"`
	// Keepalive is the interval of in-dialog OPTIONS to recorders, which
	// detect a recorder that died without BYE (0 = off).
	Keepalive time.Duration `yaml:"keepalive"`
	// MaxConferences bounds concurrent conferences; beyond it new legs get 503.
	MaxConferences int `yaml:"max-conferences"`
}

// Defaults fills zero values with the lab's defaults.
func (c *Config) Defaults() {
	if c.Name == "" {
		c.Name = "ms1"
	}
	if c.SIP == (Listen{}) {
		c.SIP = Listen{UDP: "127.0.0.1:5070", TCP: "127.0.0.1:5070"}
	}
	if c.RecordMode == "" {
		c.RecordMode = string(msml.ModeSIPREC)
	}
	if c.SessionLayout == "" {
		c.SessionLayout = string(msml.SessionsSingle)
	}
	if c.PauseMode == "" {
		c.PauseMode = PauseReinviteInactive
	}
	if c.LocalDir == "" {
		c.LocalDir = "arlab-data/local-recordings"
	}
	if c.SRTP == "" {
		c.SRTP = msml.SRTPOff
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.InviteTimeout == 0 {
		c.InviteTimeout = 10 * time.Second
	}
	if c.MaxConferences == 0 {
		c.MaxConferences = 1000
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports every invalid value, naming its key under "mediaserver".
func (c Config) Validate() error { return c.ValidateAt("mediaserver") }

// ValidateAt is Validate with the key path of this entry in the lab config
// (e.g. "mediaservers[0]").
func (c Config) ValidateAt(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if !namePattern.MatchString(c.Name) {
		bad("name", "%q is not a name (letters, digits, _ . - up to 64)", c.Name)
	}
	for _, kv := range []struct{ key, addr string }{
		{"sip.udp", c.SIP.UDP}, {"sip.tcp", c.SIP.TCP}, {"sip.tls", c.SIP.TLS}, {"http", c.HTTP},
		{"resource-manager", c.ResourceManager},
	} {
		if kv.addr == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(kv.addr); err != nil {
			bad(kv.key, "%q is not an ip:port address", kv.addr)
		}
	}
	if c.SIP.UDP == "" && c.SIP.TCP == "" && c.SIP.TLS == "" {
		bad("sip", "at least one of udp, tcp, tls must be set")
	}
	switch r := c.RTPPorts; {
	case r.Min == 0 && r.Max == 0:
	case r.Min < 1024 || r.Max > 65535:
		bad("rtp-ports.min", "range %d..%d must lie within 1024..65535", r.Min, r.Max)
	case r.Max-r.Min < 1:
		bad("rtp-ports.max", "range %d..%d holds no RTP port pair", r.Min, r.Max)
	}
	if c.AdvertiseAddr != "" {
		if _, err := netip.ParseAddr(c.AdvertiseAddr); err != nil {
			bad("advertise-addr", "%q is not an IP address", c.AdvertiseAddr)
		}
	}
	if c.DefaultDestination != "" {
		var u sip.Uri
		if err := sip.ParseUri(c.DefaultDestination, &u); err != nil || u.Host == "" {
			bad("default-destination", "%q is not a SIP URI", c.DefaultDestination)
		}
	}
	switch msml.Mode(c.RecordMode) {
	case msml.ModeSIPREC, msml.ModeGenesys:
	default:
		bad("record-mode", "unknown mode %q (want siprec|genesys)", c.RecordMode)
	}
	switch msml.Sessions(c.SessionLayout) {
	case msml.SessionsSingle, msml.SessionsPerParty:
	default:
		bad("session-layout", "unknown layout %q (want single|per-party)", c.SessionLayout)
	}
	switch c.PauseMode {
	case PauseReinviteInactive, PauseStopRTP, PauseSilence:
	default:
		bad("pause-mode", "unknown mode %q (want reinvite-inactive|stop-rtp|silence)", c.PauseMode)
	}
	if c.LocalDir == "" {
		bad("local-dir", "must be set")
	}
	switch c.SRTP {
	case msml.SRTPOff, msml.SRTPSDES:
	default:
		bad("srtp", "unknown value %q (want off|sdes)", c.SRTP)
	}
	switch c.Transport {
	case "udp", "tcp", "tls":
		if l := map[string]string{"udp": c.SIP.UDP, "tcp": c.SIP.TCP, "tls": c.SIP.TLS}[c.Transport]; l == "" {
			bad("sip."+c.Transport, "must be set when transport is %s: recorders send in-dialog requests to that Contact", c.Transport)
		}
	default:
		bad("transport", "unknown transport %q (want udp|tcp|tls)", c.Transport)
	}
	if c.InviteTimeout < 100*time.Millisecond || c.InviteTimeout > 2*time.Minute {
		bad("invite-timeout", "must be within 100ms..2m, got %v", c.InviteTimeout)
	}
	if c.Keepalive < 0 || (c.Keepalive > 0 && c.Keepalive < 100*time.Millisecond) {
		bad("keepalive", "must be 0 (off) or at least 100ms, got %v", c.Keepalive)
	}
	if c.MaxConferences < 1 {
		bad("max-conferences", "must be at least 1, got %d", c.MaxConferences)
	}
	return errors.Join(errs...)
}
