package resourcemanager

import (
	"github.com/arlab/arlab/pkg/sipx"

	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Group kinds.
const (
	KindMediaServer = "mediaserver"
	KindRecorder    = "recorder"
)

// Placement policies.
const (
	PolicyRoundRobin = "round-robin"
	PolicyLeastUsed  = "least-used"
	PolicyWeighted   = "weighted"
	PolicyHash       = "hash"
	PolicyHunt       = "hunt"
)

// Hash keys of the hash policy.
const (
	HashCallID   = "call-id"
	HashCallUUID = "calluuid"
)

// Listen holds the SIP listen addresses ("" = transport off).
type Listen = sipx.ListenConfig

// MemberConfig is one instance of a resource group.
type MemberConfig struct {
	// Name identifies the member in the API, metrics and Warning headers;
	// default: host:port of the URI.
	Name string `yaml:"name,omitempty"`
	// URI is where requests go, e.g. "sip:127.0.0.1:5070;transport=tcp".
	URI string `yaml:"uri"`
	// Capacity is the most active sessions the member takes (0 = unlimited).
	Capacity int `yaml:"capacity,omitempty"`
	// Weight is the member's share under the weighted policy (default 1).
	Weight int `yaml:"weight,omitempty"`
}

// GroupConfig is one resource group.
type GroupConfig struct {
	Name   string `yaml:"name"`
	Kind   string `yaml:"kind"`   // mediaserver | recorder
	Policy string `yaml:"policy"` // default round-robin
	// HashKey is what the hash policy hashes: call-id (default) or calluuid.
	HashKey string         `yaml:"hash-key,omitempty"`
	Members []MemberConfig `yaml:"members"`
	// NoFailover lists final response codes that go straight back to the
	// sender instead of trying the next member.
	NoFailover []int `yaml:"no-failover,omitempty"`
	// DNs maps recorded DNs to this recorder group ("70*" matches a prefix).
	DNs []string `yaml:"dns,omitempty"`
}

// HealthConfig drives the OPTIONS health checks.
type HealthConfig struct {
	Interval  time.Duration `yaml:"interval"`   // default 5s
	Timeout   time.Duration `yaml:"timeout"`    // default 2s
	DownAfter int           `yaml:"down-after"` // consecutive failures, default 3
	UpAfter   int           `yaml:"up-after"`   // consecutive successes, default 1
}

// Config is the `resourcemanager:` section of the lab config.
type Config struct {
	SIP  Listen `yaml:"sip"`
	HTTP string `yaml:"http"`
	// Hostname is the host put in Via and Record-Route; default: the IP of the
	// first SIP listener (or the host's outbound IP when it listens on any).
	Hostname string        `yaml:"hostname,omitempty"`
	Groups   []GroupConfig `yaml:"groups"`
	Health   HealthConfig  `yaml:"health"`
	// InviteTimeout bounds one try of an INVITE on one member until it sends a
	// final or ringing (18x) response; then the next member is tried.
	InviteTimeout time.Duration `yaml:"invite-timeout"`
	// RingTimeout bounds a try after an 18x (RFC 3261 Timer C).
	RingTimeout time.Duration `yaml:"ring-timeout"`
	// FailoverTimeout bounds all tries of one INVITE together; the sender gets
	// its final response within it.
	FailoverTimeout time.Duration `yaml:"failover-timeout"`
	// SessionTTL forgets a session whose BYE never came through the proxy.
	SessionTTL time.Duration `yaml:"session-ttl"`
	// MaxForwards is set on requests that arrive without Max-Forwards.
	MaxForwards int `yaml:"max-forwards"`
}

// Defaults fills zero values with the lab's defaults.
func (c *Config) Defaults() {
	if c.Health.Interval == 0 {
		c.Health.Interval = 5 * time.Second
	}
	if c.Health.Timeout == 0 {
		c.Health.Timeout = 2 * time.Second
	}
	if c.Health.DownAfter == 0 {
		c.Health.DownAfter = 3
	}
	if c.Health.UpAfter == 0 {
		c.Health.UpAfter = 1
	}
	if c.InviteTimeout == 0 {
		c.InviteTimeout = 4 * time.Second
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = 60 * time.Second
	}
	if c.FailoverTimeout == 0 {
		c.FailoverTimeout = 12 * time.Second
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.MaxForwards == 0 {
		c.MaxForwards = 70
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Policy == "" {
			g.Policy = PolicyRoundRobin
		}
		if g.HashKey == "" {
			g.HashKey = HashCallID
		}
		for j := range g.Members {
			m := &g.Members[j]
			if m.Weight == 0 {
				m.Weight = 1
			}
			if m.Name == "" {
				if u, err := parseMemberURI(m.URI); err == nil {
					m.Name = memberHostPort(u)
				}
			}
		}
	}
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9\[][A-Za-z0-9_.:\[\]-]{0,63}$`)
	dnPattern   = regexp.MustCompile(`^\+?[0-9A-Za-z_.-]{1,32}\*?$`)
)

// Validate reports every invalid value, each naming its key in the lab config.
func (c Config) Validate() error {
	const prefix = "resourcemanager"
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	listens := map[string]string{"udp": c.SIP.UDP, "tcp": c.SIP.TCP, "tls": c.SIP.TLS}
	for _, n := range []string{"udp", "tcp", "tls"} {
		if a := listens[n]; a != "" {
			if _, err := netip.ParseAddrPort(a); err != nil {
				bad("sip."+n, "%q is not an ip:port address", a)
			}
		}
	}
	if c.SIP.UDP == "" && c.SIP.TCP == "" && c.SIP.TLS == "" {
		bad("sip", "no SIP listener (set udp, tcp or tls)")
	}
	if c.HTTP != "" {
		if _, err := netip.ParseAddrPort(c.HTTP); err != nil {
			bad("http", "%q is not an ip:port address", c.HTTP)
		}
	}
	for key, d := range map[string]time.Duration{
		"health.interval": c.Health.Interval, "health.timeout": c.Health.Timeout,
		"invite-timeout": c.InviteTimeout, "ring-timeout": c.RingTimeout,
		"failover-timeout": c.FailoverTimeout, "session-ttl": c.SessionTTL,
	} {
		if d <= 0 {
			bad(key, "must be positive, got %v", d)
		}
	}
	if c.Health.Timeout > 0 && c.Health.Interval > 0 && c.Health.Timeout > c.Health.Interval {
		bad("health.timeout", "%v is longer than health.interval %v", c.Health.Timeout, c.Health.Interval)
	}
	if c.Health.DownAfter < 1 {
		bad("health.down-after", "must be at least 1, got %d", c.Health.DownAfter)
	}
	if c.Health.UpAfter < 1 {
		bad("health.up-after", "must be at least 1, got %d", c.Health.UpAfter)
	}
	if c.InviteTimeout > 0 && c.FailoverTimeout > 0 && c.InviteTimeout > c.FailoverTimeout {
		bad("invite-timeout", "%v is longer than failover-timeout %v", c.InviteTimeout, c.FailoverTimeout)
	}
	if c.MaxForwards < 1 || c.MaxForwards > 255 {
		bad("max-forwards", "want 1..255, got %d", c.MaxForwards)
	}
	if len(c.Groups) == 0 {
		bad("groups", "no groups (want at least one mediaserver or recorder group)")
	}
	groups := map[string]int{}
	dns := map[string]string{}
	for i, g := range c.Groups {
		key := fmt.Sprintf("groups[%d]", i)
		if !namePattern.MatchString(g.Name) {
			bad(key+".name", "%q is not a name (letters, digits, _ . : - [ ] up to 64)", g.Name)
		} else if j, dup := groups[g.Name]; dup {
			bad(key+".name", "%q is already defined at groups[%d]", g.Name, j)
		}
		groups[g.Name] = i
		switch g.Kind {
		case KindMediaServer, KindRecorder:
		default:
			bad(key+".kind", "unknown kind %q (want mediaserver|recorder)", g.Kind)
		}
		switch g.Policy {
		case PolicyRoundRobin, PolicyLeastUsed, PolicyWeighted, PolicyHash, PolicyHunt:
		default:
			bad(key+".policy", "unknown policy %q (want round-robin|least-used|weighted|hash|hunt)", g.Policy)
		}
		switch g.HashKey {
		case HashCallID, HashCallUUID:
		default:
			bad(key+".hash-key", "unknown hash key %q (want call-id|calluuid)", g.HashKey)
		}
		if len(g.Members) == 0 {
			bad(key+".members", "no members")
		}
		names := map[string]int{}
		for j, m := range g.Members {
			mkey := fmt.Sprintf("%s.members[%d]", key, j)
			u, err := parseMemberURI(m.URI)
			if err != nil {
				bad(mkey+".uri", "%v", err)
			} else if n := listenFor(u); listens[n] == "" {
				bad(mkey+".uri", "%s member needs resourcemanager.sip.%s (Record-Route must name a %s listener)", n, n, n)
			}
			if !namePattern.MatchString(m.Name) {
				bad(mkey+".name", "%q is not a name (letters, digits, _ . : - [ ] up to 64)", m.Name)
			} else if k, dup := names[m.Name]; dup {
				bad(mkey+".name", "%q is already used by members[%d]", m.Name, k)
			}
			names[m.Name] = j
			if m.Capacity < 0 {
				bad(mkey+".capacity", "must not be negative, got %d", m.Capacity)
			}
			if m.Weight < 0 {
				bad(mkey+".weight", "must not be negative, got %d", m.Weight)
			}
		}
		for j, code := range g.NoFailover {
			if code < 300 || code > 699 {
				bad(fmt.Sprintf("%s.no-failover[%d]", key, j), "%d is not a final failure code (300..699)", code)
			}
		}
		if len(g.DNs) > 0 && g.Kind != KindRecorder {
			bad(key+".dns", "only recorder groups map DNs")
		}
		for j, dn := range g.DNs {
			dkey := fmt.Sprintf("%s.dns[%d]", key, j)
			if !dnPattern.MatchString(dn) {
				bad(dkey, "%q is not a DN or DN prefix (digits, letters, +, _, ., - and a trailing *)", dn)
			} else if other, dup := dns[dn]; dup {
				bad(dkey, "%q is already mapped to group %q", dn, other)
			}
			dns[dn] = g.Name
		}
	}
	return errors.Join(errs...)
}

// parseMemberURI parses a member URI and checks it can be a request target.
func parseMemberURI(s string) (sip.Uri, error) {
	var u sip.Uri
	s = strings.TrimSpace(s)
	if s == "" {
		return u, errors.New("empty URI")
	}
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		return u, fmt.Errorf("%q is not a sip: or sips: URI", s)
	}
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("%q: %w", s, err)
	}
	if u.Host == "" {
		return u, fmt.Errorf("%q has no host", s)
	}
	switch listenFor(u) {
	case "udp", "tcp", "tls":
	default:
		t, _ := u.UriParams.Get("transport")
		return u, fmt.Errorf("%q: unsupported transport %q (want udp|tcp|tls)", s, t)
	}
	return u, nil
}

// listenFor names the transport a URI is reached over, as a listener key.
func listenFor(u sip.Uri) string {
	t := "udp"
	if u.UriParams != nil {
		if v, ok := u.UriParams.Get("transport"); ok && v != "" {
			t = strings.ToLower(v)
		}
	}
	if u.IsEncrypted() {
		if t == "tcp" || t == "udp" {
			t = "tls"
		}
	}
	return t
}

// memberHostPort is host:port of a member URI, with the transport's default port.
func memberHostPort(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
		if listenFor(u) == "tls" {
			port = 5061
		}
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}
