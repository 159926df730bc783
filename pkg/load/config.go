package load

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Modes of a load run.
const (
	// ModeRecorder: the engine is the SIPREC client; calls go straight to a
	// recorder or through the Resource Manager.
	ModeRecorder = "recorder"
	// ModeLab: customer calls through the SIP Server to recorded agent DNs.
	ModeLab = "lab"
)

// Defaults and limits.
const (
	DefaultHold         = 10 * time.Second
	DefaultSetupTimeout = 10 * time.Second
	DefaultVerifySample = 5
	DefaultProgress     = time.Second
	// MinProgress is the shortest progress interval: the line is at most once a second.
	MinProgress = time.Second
	// MaxCalls bounds one run (and what the report holds per recording).
	MaxCalls = 100_000
	// streamsPerCall is what a recording session offers: customer and agent.
	streamsPerCall = 2
)

var (
	// ErrConfig wraps every configuration problem.
	ErrConfig = errors.New("invalid load config")
	// ErrLabMode is returned for ModeLab until the SIP Server records calls.
	ErrLabMode = errors.New("lab mode needs the SIP Server's recording decisions (full-time DN recording), which have not landed")
)

// Process is a service process whose CPU and memory the report shows.
type Process struct {
	Name string `yaml:"name" json:"name"`
	PID  int    `yaml:"pid" json:"pid"`
}

// Config is one load run. YAML keys are kebab-case like the lab config.
type Config struct {
	// Mode is ModeRecorder (default) or ModeLab.
	Mode string `yaml:"mode"`
	// Calls is how many calls the run makes in total.
	Calls int `yaml:"calls"`
	// CPS is the call setup rate (new calls per second); 0 starts them all at once.
	CPS float64 `yaml:"cps"`
	// Hold is how long each call streams RTP once answered.
	Hold time.Duration `yaml:"hold"`
	// MaxActive caps concurrent calls (0 = no cap: Calls, or CPS×Hold in steady state).
	MaxActive int `yaml:"max-active"`
	// SetupP99Limit fails the run when the INVITE-to-200 p99 exceeds it (0 = no limit).
	SetupP99Limit time.Duration `yaml:"setup-p99-limit"`

	// Target is where recording sessions go in recorder mode: a recorder or the
	// Resource Manager, e.g. "sip:127.0.0.1:5090;transport=tcp". The transport
	// follows the URI (RFC 3263: UDP when none is given, TLS for sips:).
	Target string `yaml:"target"`
	// Recorders are the HTTP API base URLs of the recorders that may hold the
	// run's recordings; empty = no verification.
	Recorders []string `yaml:"recorders"`
	// Token is the recorders' API bearer token.
	Token string `yaml:"token"`
	// LocalIP is the address SIP and RTP bind to and advertise; default: the
	// IP that routes to the target (127.0.0.1 for a loopback target).
	LocalIP string `yaml:"local-ip"`

	// RTPSockets is how many UDP sockets carry all streams (default 4).
	RTPSockets int `yaml:"rtp-sockets"`
	// SetupTimeout bounds one INVITE until its final response.
	SetupTimeout time.Duration `yaml:"setup-timeout"`
	// VerifySample is how many recordings get their audio checked (default 5;
	// negative = every recording).
	VerifySample int `yaml:"verify-sample"`
	// Progress is the interval of the live progress line (default and minimum
	// 1s; negative = no progress line).
	Progress time.Duration `yaml:"progress"`
	// Processes are service processes to account (the engine adds itself as
	// "load"); for a lab, the services of pkg/lab.ReadState with their pids.
	Processes []Process `yaml:"processes"`

	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger `yaml:"-"`
	// TLS is the client configuration for a sips: target.
	TLS *tls.Config `yaml:"-"`
}

// Defaults fills zero values.
func (c *Config) Defaults() {
	if c.Mode == "" {
		c.Mode = ModeRecorder
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.RTPSockets == 0 {
		c.RTPSockets = 4
	}
	if c.SetupTimeout == 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	if c.VerifySample == 0 {
		c.VerifySample = DefaultVerifySample
	}
	if c.Progress == 0 {
		c.Progress = DefaultProgress
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every invalid value, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...)))
	}
	switch c.Mode {
	case ModeRecorder:
	case ModeLab:
		errs = append(errs, fmt.Errorf("%w: mode: %w", ErrConfig, ErrLabMode))
	default:
		bad("mode", "unknown mode %q (want %s|%s)", c.Mode, ModeRecorder, ModeLab)
	}
	if c.Calls < 1 || c.Calls > MaxCalls {
		bad("calls", "%d is out of range (1..%d)", c.Calls, MaxCalls)
	}
	if c.CPS < 0 {
		bad("cps", "%v is negative", c.CPS)
	}
	if c.Hold <= 0 {
		bad("hold", "%v must be positive", c.Hold)
	}
	if c.MaxActive < 0 {
		bad("max-active", "%d is negative", c.MaxActive)
	}
	if c.SetupP99Limit < 0 {
		bad("setup-p99-limit", "%v is negative", c.SetupP99Limit)
	}
	if c.Mode == ModeRecorder {
		if c.Target == "" {
			bad("target", "required in recorder mode (a recorder or the Resource Manager, e.g. sip:127.0.0.1:5090;transport=tcp)")
		} else if _, _, err := parseTarget(c.Target); err != nil {
			bad("target", "%v", err)
		}
	}
	for i, r := range c.Recorders {
		if _, err := apiURL(r); err != nil {
			bad(fmt.Sprintf("recorders[%d]", i), "%v", err)
		}
	}
	if c.LocalIP != "" {
		if _, err := netip.ParseAddr(c.LocalIP); err != nil {
			bad("local-ip", "%q is not an IP address", c.LocalIP)
		}
	}
	if c.RTPSockets < 1 || c.RTPSockets > 64 {
		bad("rtp-sockets", "%d is out of range (1..64)", c.RTPSockets)
	}
	if c.SetupTimeout <= 0 {
		bad("setup-timeout", "%v must be positive", c.SetupTimeout)
	}
	if c.Progress > 0 && c.Progress < MinProgress {
		bad("progress", "%v is below %v (the line is at most once a second)", c.Progress, MinProgress)
	}
	for i, p := range c.Processes {
		if p.PID <= 0 {
			bad(fmt.Sprintf("processes[%d].pid", i), "%d is not a process id", p.PID)
		}
		if p.Name == "" {
			bad(fmt.Sprintf("processes[%d].name", i), "required")
		}
	}
	return errors.Join(errs...)
}

// parseTarget parses a SIP URI target and returns it with the transport
// (udp, tcp or tls) it implies.
func parseTarget(s string) (sip.Uri, string, error) {
	var u sip.Uri
	if err := sip.ParseUri(strings.TrimSpace(s), &u); err != nil {
		return u, "", fmt.Errorf("%q is not a SIP URI: %w", s, err)
	}
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return u, "", fmt.Errorf("%q: scheme must be sip or sips", s)
	}
	if u.Host == "" {
		return u, "", fmt.Errorf("%q has no host", s)
	}
	transport := "udp"
	if u.Scheme == "sips" {
		transport = "tls"
	}
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok {
			transport = strings.ToLower(t)
		}
	}
	switch transport {
	case "udp", "tcp", "tls":
	default:
		return u, "", fmt.Errorf("%q: transport %q (want udp, tcp or tls)", s, transport)
	}
	if u.Port == 0 {
		u.Port = 5060
		if transport == "tls" {
			u.Port = 5061
		}
	}
	return u, transport, nil
}

// apiURL normalises a recorder API address (a URL or host:port).
func apiURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}
