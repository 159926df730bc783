package phone

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
)

// Config describes one phone.
type Config struct {
	// DN is the phone's number: the user part of its AOR and Contact.
	DN string
	// DisplayName goes into From.
	DisplayName string
	// Host is the IP the phone binds and advertises in SIP and SDP.
	Host string
	// Transport is udp (default), tcp or tls.
	Transport string
	// Listen is the SIP listen address; default Host:0.
	Listen string
	// Registrar, when set ("sip:host:port" or "host:port"), is where the
	// phone registers, and the default destination of calls to bare numbers.
	Registrar string
	// Proxy, when set ("host:port"), is where calls to bare numbers go
	// instead of the registrar.
	Proxy string
	// Domain is the host part of the AOR; default the registrar's host, else Host.
	Domain string
	// Username and Password answer digest challenges (Username defaults to DN).
	Username, Password string
	// Expires is the registration lifetime; the phone refreshes at half of it.
	Expires time.Duration
	// Codecs in preference order; default PCMU, PCMA, telephone-event.
	Codecs []sdp.Codec
	// SRTP offers RTP/SAVP with an SDES key and accepts SAVP offers.
	SRTP bool
	// AutoAnswer answers incoming calls after AnswerDelay; otherwise they
	// wait on Incoming() for Answer or Reject.
	AutoAnswer  bool
	AnswerDelay time.Duration
	// ToneHz is the frequency the phone sends; default audio.ToneForDN(DN).
	ToneHz float64
	// RecordAudio keeps each call's received audio for analysis (tests, demo).
	RecordAudio bool
	// MaxCalls bounds concurrent calls; beyond it incoming calls get 486.
	MaxCalls int
	// UserAgent header value.
	UserAgent string
}

// Defaults fills zero values.
func (c *Config) Defaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Transport == "" {
		c.Transport = "udp"
	}
	c.Transport = strings.ToLower(c.Transport)
	if c.Listen == "" {
		c.Listen = netip.AddrPortFrom(mustAddr(c.Host), 0).String()
	}
	if c.Username == "" {
		c.Username = c.DN
	}
	if c.Expires == 0 {
		c.Expires = 300 * time.Second
	}
	if len(c.Codecs) == 0 {
		c.Codecs = []sdp.Codec{sdp.PCMU, sdp.PCMA, sdp.TelephoneEvent}
	}
	if c.ToneHz == 0 {
		c.ToneHz = audio.ToneForDN(c.DN)
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = 1000
	}
	if c.UserAgent == "" {
		c.UserAgent = "arlab-phone"
	}
	if c.Domain == "" {
		if u, err := parseTarget(c.Registrar); err == nil && c.Registrar != "" {
			c.Domain = u.Host
		} else {
			c.Domain = c.Host
		}
	}
}

// Validate reports bad values.
func (c Config) Validate() error {
	var errs []error
	if c.DN == "" || strings.ContainsAny(c.DN, " @:;<>\"") {
		errs = append(errs, fmt.Errorf("phone: dn %q is not a SIP user", c.DN))
	}
	if _, err := netip.ParseAddr(c.Host); err != nil {
		errs = append(errs, fmt.Errorf("phone: host %q is not an IP address", c.Host))
	}
	switch c.Transport {
	case "udp", "tcp", "tls":
	default:
		errs = append(errs, fmt.Errorf("phone: transport %q (want udp, tcp or tls)", c.Transport))
	}
	if c.Registrar != "" {
		if _, err := parseTarget(c.Registrar); err != nil {
			errs = append(errs, fmt.Errorf("phone: registrar %q: %w", c.Registrar, err))
		}
	}
	if c.Proxy != "" {
		if _, err := netip.ParseAddrPort(c.Proxy); err != nil {
			errs = append(errs, fmt.Errorf("phone: proxy %q is not host:port", c.Proxy))
		}
	}
	if c.Expires < 0 || c.AnswerDelay < 0 {
		errs = append(errs, errors.New("phone: durations must not be negative"))
	}
	if c.ToneHz < 0 || c.ToneHz > 3900 {
		errs = append(errs, fmt.Errorf("phone: tone %.0f Hz is outside telephone audio", c.ToneHz))
	}
	return errors.Join(errs...)
}

// Option sets an injectable.
type Option func(*Phone)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(p *Phone) { p.log = l } }

// WithTLS sets the TLS configs: server for the TLS listener, client for
// outgoing TLS connections.
func WithTLS(server, client *tls.Config) Option {
	return func(p *Phone) { p.tlsServer, p.tlsClient = server, client }
}

// parseTarget accepts "sip:user@host:port;params", "host:port" or "user@host:port".
func parseTarget(s string) (sip.Uri, error) {
	var u sip.Uri
	if s == "" {
		return u, errors.New("empty address")
	}
	t := s
	if !strings.HasPrefix(t, "sip:") && !strings.HasPrefix(t, "sips:") {
		t = "sip:" + t
	}
	if err := sip.ParseUri(t, &u); err != nil {
		return u, err
	}
	if u.Host == "" {
		return u, errors.New("no host")
	}
	return u, nil
}

func mustAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return a
}
