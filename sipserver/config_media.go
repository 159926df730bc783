package sipserver

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
)

// fileNameFields are the placeholders of recording.file-name.
var fileNameFields = []string{"calluuid", "connid", "dn", "other", "ani", "dnis", "date", "time", "host", "id"}

// maxFileNameTemplate bounds recording.file-name.
const maxFileNameTemplate = 256

// validateMedia checks the media-control and recording keys.
func (c Config) validateMedia() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sipserver.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	mc := c.MediaControl
	if mc.ResourceManager != "" {
		host, port, err := net.SplitHostPort(mc.ResourceManager)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
			bad("media-control.resource-manager", "%q is not host:port", mc.ResourceManager)
		}
	}
	switch mc.Transport {
	case "udp", "tcp", "tls":
		if mc.ResourceManager != "" && c.listenOn(mc.Transport) == "" {
			bad("media-control.transport", "%s needs the sipserver.sip.%s listener (media server events come back on it)", mc.Transport, mc.Transport)
		}
	default:
		bad("media-control.transport", "unknown transport %q (want udp|tcp|tls)", mc.Transport)
	}
	if mc.Timeout <= 0 {
		bad("media-control.timeout", "must be positive, got %s", mc.Timeout)
	}
	rc := c.Recording
	switch msml.Mode(rc.Mode) {
	case "", msml.ModeSIPREC, msml.ModeGenesys:
	default:
		bad("recording.mode", "unknown mode %q (want siprec|genesys)", rc.Mode)
	}
	switch msml.Sessions(rc.Sessions) {
	case "", msml.SessionsSingle, msml.SessionsPerParty:
	default:
		bad("recording.sessions", "unknown layout %q (want single|per-party)", rc.Sessions)
	}
	if rc.Destination != "" {
		if err := checkDestURI(rc.Destination); err != nil {
			bad("recording.destination", "%v", err)
		}
	}
	if rc.PrerecordGrace < 0 {
		bad("recording.prerecord-grace", "must not be negative")
	}
	if err := checkFileNameTemplate(rc.FileName); err != nil {
		bad("recording.file-name", "%v", err)
	}
	return errs
}

func (c Config) listenOn(network string) string {
	switch network {
	case "udp":
		return c.SIP.UDP
	case "tcp":
		return c.SIP.TCP
	case "tls":
		return c.SIP.TLS
	}
	return ""
}

// checkDestURI accepts what a recording destination may be: a SIP or SIPS
// URI with a host, or a file: URI (a local recording on the media server).
func checkDestURI(s string) error {
	if len(s) > 512 {
		return fmt.Errorf("destination longer than 512 bytes")
	}
	if (msml.Dest{URI: s}).IsFile() {
		return nil
	}
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		return fmt.Errorf("%q is not a sip:, sips: or file: URI", s)
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a SIP URI with a host", s)
	}
	return nil
}

// checkFileNameTemplate accepts only the known {placeholders}.
func checkFileNameTemplate(t string) error {
	if t == "" || len(t) > maxFileNameTemplate {
		return fmt.Errorf("must be 1 to %d bytes", maxFileNameTemplate)
	}
	rest := t
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("unclosed { in %q", t)
		}
		name := rest[i+1 : i+j]
		known := false
		for _, f := range fileNameFields {
			known = known || f == name
		}
		if !known {
			return fmt.Errorf("unknown placeholder {%s} (known: %s)", name, strings.Join(fileNameFields, ", "))
		}
		rest = rest[i+j+1:]
	}
	return nil
}
