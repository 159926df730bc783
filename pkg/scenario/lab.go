package scenario

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/sipx"
)

// Lab is where a scenario finds the lab's services. The CLI builds one from
// a lab config (LabFromConfig) to point every scenario at a running lab.
type Lab struct {
	// Host is the IP the scenario's phones bind and advertise.
	Host string
	SIP  SIPAddrs
	TLib string
	// TLibPassword is sent in RequestOpen when the T-lib server wants one.
	TLibPassword string
	// Recorders are recorder API base URLs (http://host:port).
	Recorders     []string
	RecorderToken string
	// TLSCert and TLSKey are the phones' own certificate (PEM files) for
	// SIPS; TLSCA is the CA bundle the phones trust. Empty: a throwaway
	// self-signed pair (fine for direct mode).
	TLSCert, TLSKey, TLSCA string
	// DataDir is the lab's data directory (${lab.data-dir}).
	DataDir string
	// PrivateMsgIDs maps GSIP_RECORD_START... to the lab's numbers.
	PrivateMsgIDs map[string]int
}

// LabFromConfig takes the addresses of a lab config's services.
func LabFromConfig(cfg *config.Config) *Lab {
	ids := cfg.SIPServer.PrivateMsgIDs
	var recorders []string
	for _, r := range cfg.Recorders {
		if r.HTTP != "" {
			recorders = append(recorders, "http://"+r.HTTP)
		}
	}
	return &Lab{
		Recorders:     recorders,
		RecorderToken: firstToken(cfg),
		Host:          cfg.Lab.Host,
		SIP:           SIPAddrs{UDP: cfg.SIPServer.SIP.UDP, TCP: cfg.SIPServer.SIP.TCP, TLS: cfg.SIPServer.SIP.TLS},
		TLib:          cfg.SIPServer.TLib,
		TLibPassword:  cfg.SIPServer.TLibPassword,
		TLSCert:       cfg.Lab.TLS.Cert, TLSKey: cfg.Lab.TLS.Key, TLSCA: cfg.Lab.TLS.CA,
		DataDir: cfg.Lab.DataDir,
		PrivateMsgIDs: map[string]int{
			"GSIP_RECORD_START": ids.RecordStart, "GSIP_RECORD_STOP": ids.RecordStop,
			"GSIP_RECORD_PAUSE": ids.RecordPause, "GSIP_RECORD_RESUME": ids.RecordResume,
		},
	}
}

// firstToken is the recorders' API token (the lab gives them all the same).
func firstToken(cfg *config.Config) string {
	for _, r := range cfg.Recorders {
		if r.Token != "" {
			return r.Token
		}
	}
	return ""
}

func defaultPrivateMsgIDs() map[string]int {
	return map[string]int{"GSIP_RECORD_START": 3013, "GSIP_RECORD_STOP": 3014, "GSIP_RECORD_PAUSE": 3015,
		"GSIP_RECORD_RESUME": 3016}
}

// resolveLab works out the addresses a scenario uses: its lab config (or the
// embedded default), then the addresses written in the scenario, then the
// caller's override (the lab the user points `scenario run` at wins).
func resolveLab(s *Scenario, override *Lab) (*Lab, error) {
	if s.Lab.Mode == ModeDirect {
		l := &Lab{Host: "127.0.0.1", PrivateMsgIDs: defaultPrivateMsgIDs()}
		if s.Lab.Host != "" {
			l.Host = s.Lab.Host
		}
		if override != nil && override.Host != "" {
			l.Host = override.Host
		}
		l.DataDir = s.Lab.DataDir
		return l, nil
	}
	cfg, err := config.Load(s.Lab.Config)
	if err != nil {
		return nil, fmt.Errorf("lab config: %w", err)
	}
	l := LabFromConfig(cfg)
	spec := s.Lab
	overlay(l, &Lab{Host: spec.Host, SIP: spec.SIP, TLib: spec.TLib, TLibPassword: spec.TLibPassword,
		Recorders: spec.Recorders, RecorderToken: spec.RecorderToken, TLSCA: spec.TLSCA, DataDir: spec.DataDir})
	if override != nil {
		overlay(l, override)
	}
	if l.Host == "" {
		l.Host = "127.0.0.1"
	}
	return l, nil
}

func overlay(dst, src *Lab) {
	set := func(d *string, s string) {
		if s != "" {
			*d = s
		}
	}
	set(&dst.Host, src.Host)
	if src.SIP != (SIPAddrs{}) {
		dst.SIP = src.SIP
	}
	set(&dst.TLib, src.TLib)
	set(&dst.TLibPassword, src.TLibPassword)
	if len(src.Recorders) > 0 {
		dst.Recorders = src.Recorders
	}
	set(&dst.RecorderToken, src.RecorderToken)
	set(&dst.TLSCert, src.TLSCert)
	set(&dst.TLSKey, src.TLSKey)
	set(&dst.TLSCA, src.TLSCA)
	set(&dst.DataDir, src.DataDir)
	for k, v := range src.PrivateMsgIDs {
		if dst.PrivateMsgIDs == nil {
			dst.PrivateMsgIDs = map[string]int{}
		}
		dst.PrivateMsgIDs[k] = v
	}
}

func (l *Lab) sipAddr(transport string) string {
	switch transport {
	case "tcp":
		return l.SIP.TCP
	case "tls":
		return l.SIP.TLS
	}
	return l.SIP.UDP
}

// tlsConfigs returns the server and client TLS configs of the phones.
func (l *Lab) tlsConfigs() (server, client *tls.Config, err error) {
	if l.TLSCert != "" && l.TLSKey != "" {
		return sipx.LoadTLS(l.TLSCert, l.TLSKey, l.TLSCA)
	}
	server, client, err = sipx.SelfSigned(l.Host)
	if err != nil || l.TLSCA == "" {
		return server, client, err
	}
	pem, err := os.ReadFile(l.TLSCA)
	if err != nil {
		return nil, nil, fmt.Errorf("lab tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("lab tls-ca %s: no PEM certificate in it", l.TLSCA)
	}
	client = client.Clone()
	client.RootCAs = pool
	return server, client, nil
}

// probeTimeout bounds each reachability check.
const probeTimeout = 1500 * time.Millisecond

// probe tells why the lab a scenario needs is not reachable ("" when it is):
// the SIP Server must answer OPTIONS (or accept a TCP connection), the T-lib
// port must accept, and each recorder must answer /healthz. The checks run
// at once, so an absent lab costs one probe timeout.
func probe(ctx context.Context, s *Scenario, l *Lab, httpc *http.Client) string {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		problems []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	async := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	for _, t := range probeTransports(s) {
		addr := l.sipAddr(t)
		if addr == "" {
			report("the lab has no SIP %s address", t)
			continue
		}
		async(func() {
			if err := probeSIP(ctx, t, addr, l.Host); err != nil {
				report("SIP Server %s (%s): %v", addr, t, err)
			}
		})
	}
	if len(s.Clients) > 0 {
		if l.TLib == "" {
			report("the lab has no T-lib address")
		} else {
			async(func() {
				if err := probeTCP(ctx, l.TLib); err != nil {
					report("T-lib %s: %v", l.TLib, err)
				}
			})
		}
	}
	if usesRecorder(s) {
		if len(l.Recorders) == 0 {
			report("no recorder API address (lab.recorders)")
		}
		for _, base := range l.Recorders {
			async(func() {
				if err := probeHTTP(ctx, httpc, base+"/healthz", l.RecorderToken); err != nil {
					report("recorder %s: %v", base, err)
				}
			})
		}
	}
	wg.Wait()
	if len(problems) == 0 {
		return ""
	}
	sort.Strings(problems)
	return "no lab reachable: " + strings.Join(problems, "; ")
}

// probeTransports are the SIP transports the scenario's phones use; a
// scenario without phones needs no SIP Server.
func probeTransports(s *Scenario) []string {
	seen := map[string]bool{}
	for _, p := range s.Parties {
		seen[p.Transport] = true
	}
	var out []string
	for _, t := range []string{"udp", "tcp", "tls"} {
		if seen[t] {
			out = append(out, t)
		}
	}
	return out
}

// probeKey identifies what probe would check, so a Runner asks an absent
// lab once per run rather than once per scenario.
func probeKey(s *Scenario, l *Lab) string {
	var b strings.Builder
	for _, t := range probeTransports(s) {
		fmt.Fprintf(&b, "%s=%s;", t, l.sipAddr(t))
	}
	if len(s.Clients) > 0 {
		fmt.Fprintf(&b, "tlib=%s;", l.TLib)
	}
	if usesRecorder(s) {
		fmt.Fprintf(&b, "rec=%s;", strings.Join(l.Recorders, ","))
	}
	return b.String()
}

func usesRecorder(s *Scenario) bool {
	for _, st := range s.Steps {
		if e, ok := st.action.(*expectStep); ok {
			for _, c := range e.checks {
				if _, ok := c.(*recordingExpect); ok {
					return true
				}
			}
		}
	}
	return false
}

func probeTCP(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeSIP sends OPTIONS over UDP; TCP and TLS are probed by connecting.
func probeSIP(ctx context.Context, transport, addr, localHost string) error {
	if transport != "udp" {
		return probeTCP(ctx, addr)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("arlab-scenario-probe"), sipgo.WithUserAgentHostname(localHost))
	if err != nil {
		return err
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(localHost),
		sipgo.WithClientLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return err
	}
	defer cli.Close()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Host: host, Port: port})
	req.SetTransport("UDP")
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := cli.Do(ctx, req); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer to OPTIONS within %s", probeTimeout)
		}
		return err
	}
	return nil
}

func probeHTTP(ctx context.Context, httpc *http.Client, url, token string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := httpc.Do(req)
	if err != nil {
		var ue interface{ Timeout() bool }
		if errors.As(err, &ue) && ue.Timeout() {
			return fmt.Errorf("no answer within %s", probeTimeout)
		}
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %s", res.Status)
	}
	return nil
}
