package recorder

import (
	"github.com/arlab/arlab/pkg/sipx"

	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// SRTP policies.
const (
	SRTPOff     = "off"     // refuse RTP/SAVP m-lines
	SRTPAllow   = "allow"   // accept RTP/AVP and RTP/SAVP
	SRTPRequire = "require" // refuse RTP/AVP m-lines
)

// Config configures one recorder instance. It is one entry of `recorders:` in the lab
// config; yaml keys are kebab-case like the rest of the lab config.
type Config struct {
	Name     string            `yaml:"name"`
	SIP      sipx.ListenConfig `yaml:"sip"`  // "" = no listener of that transport
	HTTP     string            `yaml:"http"` // API listen address, "" = no HTTP API
	DataDir  string            `yaml:"data-dir"`
	RTPPorts struct {
		// Both 0 (the default): each stream gets an ephemeral port chosen by the OS. Set a
		// range when a firewall must know the ports.
		Min int `yaml:"min"`
		Max int `yaml:"max"`
	} `yaml:"rtp-ports"`
	MaxSessions    int           `yaml:"max-sessions"`   // concurrent recording sessions; beyond: 503
	FlushInterval  time.Duration `yaml:"flush-interval"` // <= 1s: audio is on disk at least this often
	JitterWindow   time.Duration `yaml:"jitter-window"`
	PerPartyFiles  bool          `yaml:"per-party-files"`
	Token          string        `yaml:"token"` // bearer token for the HTTP API ("" = open)
	TLib           TLibConfig    `yaml:"tlib"`
	PrerecordGrace time.Duration `yaml:"prerecord-grace"` // tentative recordings not kept by then are deleted
	AdvertiseAddr  string        `yaml:"advertise-addr"`  // IP put in SDP ("" = the SIP listen IP)
	SRTP           string        `yaml:"srtp"`            // off | allow | require
}

// TLibConfig is the T-lib connection of a recorder ("" Addr = no T-lib).
type TLibConfig struct {
	Addr     string `yaml:"addr"`
	AppName  string `yaml:"app-name"`
	Password string `yaml:"password"`
}

// Defaults.
const (
	DefaultMaxSessions    = 1000
	DefaultFlushInterval  = 500 * time.Millisecond
	DefaultJitterWindow   = 200 * time.Millisecond
	DefaultPrerecordGrace = 60 * time.Second
)

// Defaults fills zero values.
func (c *Config) Defaults() {
	if c.Name == "" {
		c.Name = "recorder"
	}
	if c.SIP.UDP == "" && c.SIP.TCP == "" && c.SIP.TLS == "" {
		c.SIP.UDP = "127.0.0.1:5080"
		c.SIP.TCP = "127.0.0.1:5080"
	}
	if c.DataDir == "" {
		c.DataDir = "arlab-data/" + c.Name
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.JitterWindow == 0 {
		c.JitterWindow = DefaultJitterWindow
	}
	if c.PrerecordGrace == 0 {
		c.PrerecordGrace = DefaultPrerecordGrace
	}
	if c.SRTP == "" {
		c.SRTP = SRTPAllow
	}
	if c.TLib.AppName == "" {
		c.TLib.AppName = c.Name
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports every invalid value, each naming its yaml key.
func (c Config) Validate() error { return c.ValidateAt("recorder") }

// ValidateAt is Validate with keys named under prefix, e.g. "recorders[1]"
// when the config is one entry of the lab config's list.
func (c Config) ValidateAt(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if !namePattern.MatchString(c.Name) {
		bad("name", "%q is not a name (letters, digits, _ . - up to 64)", c.Name)
	}
	for key, addr := range map[string]string{"sip.udp": c.SIP.UDP, "sip.tcp": c.SIP.TCP, "sip.tls": c.SIP.TLS, "http": c.HTTP} {
		if addr == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(addr); err != nil {
			bad(key, "%q is not an ip:port address", addr)
		}
	}
	if c.SIP.UDP == "" && c.SIP.TCP == "" && c.SIP.TLS == "" {
		bad("sip", "at least one of udp, tcp, tls must be set")
	}
	if c.DataDir == "" {
		bad("data-dir", "must be set")
	}
	switch {
	case c.RTPPorts.Min == 0 && c.RTPPorts.Max == 0: // ephemeral
	case c.RTPPorts.Min < 1024 || c.RTPPorts.Max > 65535 || c.RTPPorts.Min > c.RTPPorts.Max:
		bad("rtp-ports", "min %d..max %d is not a range within 1024..65535", c.RTPPorts.Min, c.RTPPorts.Max)
	case c.RTPPorts.Max-c.RTPPorts.Min < 1:
		bad("rtp-ports", "range %d..%d holds no stream port", c.RTPPorts.Min, c.RTPPorts.Max)
	}
	if c.MaxSessions < 1 {
		bad("max-sessions", "must be at least 1, got %d", c.MaxSessions)
	}
	if c.FlushInterval <= 0 || c.FlushInterval > time.Second {
		bad("flush-interval", "must be in (0, 1s] so audio is on disk at least every second, got %v", c.FlushInterval)
	}
	if c.JitterWindow < 0 || c.JitterWindow > MaxJitterWindow {
		bad("jitter-window", "must be in [0, %v], got %v", MaxJitterWindow, c.JitterWindow)
	}
	if c.PrerecordGrace < 0 {
		bad("prerecord-grace", "must not be negative, got %v", c.PrerecordGrace)
	}
	if c.AdvertiseAddr != "" {
		if _, err := netip.ParseAddr(c.AdvertiseAddr); err != nil {
			bad("advertise-addr", "%q is not an IP address", c.AdvertiseAddr)
		}
	}
	switch c.SRTP {
	case SRTPOff, SRTPAllow, SRTPRequire:
	default:
		bad("srtp", "unknown policy %q (want off|allow|require)", c.SRTP)
	}
	if c.TLib.Addr != "" {
		if _, err := netip.ParseAddrPort(c.TLib.Addr); err != nil {
			bad("tlib.addr", "%q is not an ip:port address", c.TLib.Addr)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("invalid recorder config")
