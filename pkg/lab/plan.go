package lab

import (
	"fmt"
	"net/netip"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/sipserver"
)

// PlanOptions are the command-line settings every child gets.
type PlanOptions struct {
	LogLevel  string // default info
	LogFormat string // default text
	// NoPhones leaves the agents' phones out (a test or a user brings its own).
	NoPhones bool
}

// Plan lists the lab's processes in start order: recorders, the Resource
// Manager, media servers, the SIP Server, then one phone per agent or
// supervisor DN that auto-answers. Each child reads configPath, the
// effective config the lab wrote.
func Plan(cfg *config.Config, configPath string, o PlanOptions) []Service {
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.LogFormat == "" {
		o.LogFormat = "text"
	}
	global := []string{"-c", configPath, "--log-level", o.LogLevel, "--log-format", o.LogFormat}
	cmd := func(args ...string) []string { return append(append([]string(nil), global...), args...) }
	var out []Service
	for _, r := range cfg.Recorders {
		out = append(out, Service{
			Role: "recorder", Name: r.Name, Args: cmd("recorder", "--name", r.Name),
			Health: healthURL(r.HTTP),
			Addrs:  addrs("sip", firstOf(r.SIP.TCP, r.SIP.UDP, r.SIP.TLS), "http", r.HTTP),
		})
	}
	rm := cfg.ResourceManager
	out = append(out, Service{
		Role: "resourcemanager", Name: "rm", Args: cmd("resourcemanager"),
		Health: healthURL(rm.HTTP),
		Addrs:  addrs("sip", firstOf(rm.SIP.UDP, rm.SIP.TCP, rm.SIP.TLS), "http", rm.HTTP),
	})
	for _, m := range cfg.MediaServers {
		out = append(out, Service{
			Role: "mediaserver", Name: m.Name, Args: cmd("mediaserver", "--name", m.Name),
			Health: healthURL(m.HTTP),
			Addrs:  addrs("sip", firstOf(m.SIP.UDP, m.SIP.TCP, m.SIP.TLS), "http", m.HTTP),
		})
	}
	ss := cfg.SIPServer
	out = append(out, Service{
		Role: "sipserver", Name: "sipserver", Args: cmd("sipserver"),
		Health: healthURL(ss.HTTP),
		Addrs:  addrs("sip", firstOf(ss.SIP.UDP, ss.SIP.TCP, ss.SIP.TLS), "tlib", ss.TLib, "http", ss.HTTP),
	})
	if o.NoPhones || ss.SIP.UDP == "" {
		return out
	}
	for _, d := range ss.DNs {
		if d.Type == sipserver.RoutingPoint || !d.AutoAnswer {
			continue
		}
		out = append(out, Service{
			Role: "phone", Name: "phone-" + d.Number,
			Args: cmd("phone", "--dn", d.Number, "--register", "sip:"+ss.SIP.UDP, "--host", cfg.Lab.Host),
		})
	}
	return out
}

func healthURL(addr string) string {
	if addr == "" {
		return ""
	}
	return fmt.Sprintf("http://%s/healthz", addr)
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func addrs(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

// Ports lists every fixed port the config binds, for a clear error before
// start-up when one is taken.
func Ports(cfg *config.Config) []netip.AddrPort {
	var out []netip.AddrPort
	add := func(vals ...string) {
		for _, v := range vals {
			if ap, err := netip.ParseAddrPort(v); err == nil && ap.Port() != 0 {
				out = append(out, ap)
			}
		}
	}
	ss := cfg.SIPServer
	add(ss.SIP.UDP, ss.SIP.TCP, ss.SIP.TLS, ss.TLib, ss.HTTP)
	rm := cfg.ResourceManager
	add(rm.SIP.UDP, rm.SIP.TCP, rm.SIP.TLS, rm.HTTP)
	for _, m := range cfg.MediaServers {
		add(m.SIP.UDP, m.SIP.TCP, m.SIP.TLS, m.HTTP)
	}
	for _, r := range cfg.Recorders {
		add(r.SIP.UDP, r.SIP.TCP, r.SIP.TLS, r.HTTP)
	}
	return out
}
