package resourcemanager

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// offlineRM is an RM that is not started but knows its own address, for
// request-processing tests without sockets.
func offlineRM(t testing.TB) *RM {
	t.Helper()
	cfg := testConfig(
		GroupConfig{Name: "mediaservers", Kind: KindMediaServer, Members: []MemberConfig{{Name: "ms1", URI: "sip:10.0.0.10:5080"}}},
		GroupConfig{Name: "recorders", Kind: KindRecorder, Members: []MemberConfig{{Name: "rec1", URI: "sip:10.0.0.20:5080;transport=tcp"}}},
		GroupConfig{Name: "compliance", Kind: KindRecorder, DNs: []string{"7100", "55*"}, Members: []MemberConfig{{Name: "vault1", URI: "sip:10.0.0.30:5080"}}},
	)
	r, err := New(cfg, WithLogger(testLogger()))
	require.NoError(t, err)
	r.host = "10.0.0.9"
	r.listeners = map[string]netip.AddrPort{"udp": netip.MustParseAddrPort("10.0.0.9:5070"), "tcp": netip.MustParseAddrPort("10.0.0.9:5070")}
	r.ownHosts, r.ownPorts = ownAddresses(r.host, r.listeners)
	return r
}

func parseReq(t testing.TB, text string) *sip.Request {
	t.Helper()
	msg, err := sip.ParseMessage([]byte(text))
	require.NoError(t, err)
	req, ok := msg.(*sip.Request)
	require.True(t, ok)
	req.SetSource("10.0.0.2:5060")
	return req
}

func TestParseTargetAndResolve(t *testing.T) {
	r := offlineRM(t)
	for _, tc := range []struct {
		ruri    string
		require string
		kind    string
		conf    string
		group   string
		err     string
	}{
		{ruri: "sip:msml=c1@rm", kind: KindMediaServer, conf: "c1", group: "mediaservers"},
		{ruri: "sip:MSML=C1@rm", kind: KindMediaServer, conf: "C1", group: "mediaservers"},
		{ruri: "sip:msml%3Dc2@rm", kind: KindMediaServer, conf: "c2", group: "mediaservers"},
		{ruri: "sip:msml@rm", kind: KindMediaServer, group: "mediaservers"},
		{ruri: "sip:record=r1@rm;dn=7001", kind: KindRecorder, group: "recorders"},
		{ruri: "sip:record=r1@rm;dn=7001;recordDN=7100", kind: KindRecorder, group: "compliance"},
		{ruri: "sip:record=r1@rm;RECORDDN=5512", kind: KindRecorder, group: "compliance"},
		{ruri: "sip:recorder@rm;dn=5599", kind: KindRecorder, group: "compliance"},
		{ruri: "sip:srs@rm", require: "siprec", kind: KindRecorder, group: "recorders"},
		{ruri: "sip:srs@rm", require: "100rel, SIPREC", kind: KindRecorder, group: "recorders"},
		{ruri: "sip:record@rm;group=compliance", kind: KindRecorder, group: "compliance"},
		{ruri: "sip:x@rm;group=mediaservers", group: "mediaservers"},
		{ruri: "sip:record@rm;group=mediaservers", kind: KindRecorder, err: `no group "mediaservers" for a recorder request: it is a mediaserver group`},
		{ruri: "sip:record@rm;group=zzz", kind: KindRecorder, err: `no group "zzz"`},
		{ruri: "sip:alice@rm", err: `no group for request-uri user "alice"`},
		{ruri: "sip:rm", err: `no group for request-uri user ""`},
	} {
		t.Run(tc.ruri+" "+tc.require, func(t *testing.T) {
			var u sip.Uri
			require.NoError(t, sip.ParseUri(tc.ruri, &u))
			req := sip.NewRequest(sip.INVITE, u)
			if tc.require != "" {
				req.AppendHeader(sip.NewHeader("Require", tc.require))
			}
			tg := parseTarget(req)
			assert.Equal(t, tc.kind, tg.kind)
			assert.Equal(t, tc.conf, tg.confID)
			g, err := resolve(r.groups, tg)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrNoGroup)
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.group, g.name)
		})
	}
}

func TestCallUUIDSources(t *testing.T) {
	var u sip.Uri
	require.NoError(t, sip.ParseUri("sip:record=1@rm;calluuid=AAA", &u))
	req := sip.NewRequest(sip.INVITE, u)
	req.AppendHeader(sip.NewHeader("X-Genesys-CallUUID", "BBB"))
	assert.Equal(t, "AAA", parseTarget(req).callUUID, "the URI parameter wins")
	u.UriParams.Remove("calluuid")
	req = sip.NewRequest(sip.INVITE, u)
	req.AppendHeader(sip.NewHeader("X-Genesys-CallUUID", " BBB "))
	assert.Equal(t, "BBB", parseTarget(req).callUUID)
}

func TestHelpers(t *testing.T) {
	res := sip.NewResponse(503, "Busy")
	assert.Equal(t, 7*time.Second, retryAfter(res, 7*time.Second))
	res.AppendHeader(sip.NewHeader("Retry-After", "30 (maintenance);duration=60"))
	assert.Equal(t, 30*time.Second, retryAfter(res, time.Second))
	res.ReplaceHeader(sip.NewHeader("Retry-After", "99999"))
	assert.Equal(t, 5*time.Minute, retryAfter(res, time.Second))

	for code, want := range map[int]bool{408: true, 480: true, 486: true, 500: true, 503: true, 504: true, 599: true,
		300: false, 404: false, 487: false, 488: false, 603: false} {
		assert.Equal(t, want, failsOver(code), code)
	}

	r := offlineRM(t)
	m := r.byName["recorders"].members[0]
	var u sip.Uri
	require.NoError(t, sip.ParseUri("sip:record=r1@10.0.0.9:5070;transport=udp;calluuid=X;maddr=1.1.1.1", &u))
	got := retarget(u, m)
	assert.Equal(t, "sip:record=r1@10.0.0.20:5080;calluuid=X;transport=tcp", got.String())

	for _, tc := range []struct {
		uri  string
		own  bool
		dest string
		tp   string
	}{
		{"sip:10.0.0.9:5070;lr", true, "10.0.0.9:5070", "UDP"},
		{"sip:10.0.0.9;lr", false, "10.0.0.9:5060", "UDP"},
		{"sip:10.0.0.20:5080;lr", false, "10.0.0.20:5080", "TCP"}, // a known member: its transport
		{"sip:u@10.0.0.2:5062;transport=tls", false, "10.0.0.2:5062", "TLS"},
		{"sips:u@10.0.0.2", false, "10.0.0.2:5061", "TLS"},
		{"sip:u@10.0.0.7:5099", false, "10.0.0.7:5099", "UDP"},
	} {
		u = sip.Uri{}
		require.NoError(t, sip.ParseUri(tc.uri, &u))
		assert.Equal(t, tc.own, r.isOwn(u), tc.uri)
		h := r.hopFor(u, nil, true)
		assert.Equal(t, hop{dest: tc.dest, transport: tc.tp}, h, tc.uri)
	}
	u = sip.Uri{}
	require.NoError(t, sip.ParseUri("sip:caller@10.0.0.7:5099", &u))
	assert.Equal(t, "TCP", r.hopFor(u, &session{callerTransport: "TCP"}, false).transport,
		"back to the caller: how the caller reached us")
}

// TestRequestsGolden runs the request files through the RM's request
// processing (validation, Max-Forwards, Route removal, group mapping) and
// pins the outcome.
func TestRequestsGolden(t *testing.T) {
	r := offlineRM(t)
	files, err := filepath.Glob("testdata/requests/*.sip")
	require.NoError(t, err)
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		text, err := os.ReadFile(f)
		require.NoError(t, err)
		fmt.Fprintf(&b, "%s: %s\n", filepath.Base(f), describeRequest(r, parseReq(t, string(text))))
	}
	golden(t, "requests.golden", []byte(b.String()))
}

func describeRequest(r *RM, req *sip.Request) string {
	in, err := r.prepareInbound(req)
	if err != nil {
		return "error: " + err.Error()
	}
	out := fmt.Sprintf("max-forwards=%d", in.req.MaxForwards().Val())
	if in.inDialog() || in.req.Route() != nil {
		h, err := r.nextHop(in)
		if err != nil {
			return out + " in-dialog error: " + err.Error()
		}
		return fmt.Sprintf("%s routes=%d next=%s/%s", out, len(in.req.GetHeaders("Route")), h.dest, h.transport)
	}
	t := parseTarget(in.req)
	g, err := resolve(r.groups, t)
	if err != nil {
		return out + " error: " + err.Error()
	}
	return fmt.Sprintf("%s group=%s conf=%q calluuid=%q dn=%q", out, g.name, t.confID, t.callUUID, t.dn)
}

// FuzzRequest feeds arbitrary messages through parsing and the RM's request
// processing: nothing may panic.
func FuzzRequest(f *testing.F) {
	files, _ := filepath.Glob("testdata/requests/*.sip")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("OPTIONS sip:;;;@x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nCSeq: 1 OPTIONS\r\nTo: <sip:%zz@x>;tag=\r\n\r\n"))
	r := offlineRM(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("10.0.0.2:5060")
		_ = describeRequest(r, req)
	})
}

// FuzzConfig: Defaults and Validate accept any member URI and DN text.
func FuzzConfig(f *testing.F) {
	f.Add("sip:10.0.0.1:5060;transport=tcp", "7001", "rec1")
	f.Add("sips:[::1]", "55*", "")
	f.Add("sip:", "*", "a b")
	f.Fuzz(func(t *testing.T, uri, dn, name string) {
		c := Config{SIP: Listen{UDP: "127.0.0.1:0"}, Groups: []GroupConfig{{
			Name: "g", Kind: KindRecorder, DNs: []string{dn}, Members: []MemberConfig{{Name: name, URI: uri}},
		}}}
		c.Defaults()
		if c.Validate() == nil {
			if _, err := New(c, WithLogger(testLogger())); err != nil {
				t.Fatalf("valid config refused by New: %v", err)
			}
		}
	})
}
