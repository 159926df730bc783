package recorder

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/media"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/pkg/sipx"
)

// testSRC is a small SIPREC client (SRC) for tests: sipgo for SIP, pkg/media for RTP.
type testSRC struct {
	t         *testing.T
	transport string
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	srv       *sipgo.Server
	lis       *sipx.Server
	contact   sip.ContactHeader
	ctx       context.Context
	cancel    context.CancelFunc

	mu   sync.Mutex
	byes map[string]chan struct{} // Call-ID -> closed when the recorder sent BYE
}

func newTestSRC(t *testing.T, transport string, tlsClient *tls.Config) *testSRC {
	t.Helper()
	sipx.RaiseUDPLimit()
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent("arlab-test-src"), sipgo.WithUserAgentHostname("127.0.0.1")}
	if tlsClient != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(tlsClient))
	}
	ua, err := sipgo.NewUA(opts...)
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	c := &testSRC{t: t, transport: transport, ua: ua, cli: cli, srv: srv, byes: map[string]chan struct{}{}}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		c.mu.Lock()
		if ch, ok := c.byes[sipx.CallID(req)]; ok {
			close(ch)
			delete(c.byes, sipx.CallID(req))
		}
		c.mu.Unlock()
	})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.lis = sipx.NewServer(srv, nil)
	var serverTLS *tls.Config
	if transport == "tls" {
		serverTLS, _, err = sipx.SelfSigned()
		require.NoError(t, err)
	}
	// The SRC listens on the same transport so the recorder's BYE can reach it.
	l, err := c.lis.Listen(c.ctx, transport, "127.0.0.1:0", serverTLS)
	require.NoError(t, err)
	u := sip.Uri{Scheme: "sip", User: "src", Host: "127.0.0.1", Port: int(l.Addr.Port())}
	if transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", transport)
	}
	params := sip.NewParams()
	params.Add("+sip.src", "")
	c.contact = sip.ContactHeader{Address: u, Params: params}
	t.Cleanup(c.close)
	return c
}

func (c *testSRC) close() {
	c.cancel()
	_ = c.lis.Close()
	_ = c.ua.Close()
}

// party is one recorded party of a test call.
type party struct {
	label string
	aor   string
	tone  float64
	law   audio.Law
}

type callOpts struct {
	parties  []party
	srtp     bool
	callUUID string
	// genesys: send a plain INVITE to this Request-URI user/params (no metadata).
	genesysUser   string
	genesysParams map[string]string
	noRequire     bool
	extraMetaCall *siprec.CallData
}

// srcCall is one recording session from the SRC side.
type srcCall struct {
	c       *testSRC
	d       *sipgo.DialogClientSession
	offer   *sdp.Session
	answer  *sdp.Session
	streams []*media.Stream
	meta    *siprec.Metadata
	callID  string
	target  sip.Uri
	started time.Time // when the SRC got the 200 OK (its streams start then)
	bye     chan struct{}
	opts    callOpts
}

func (c *testSRC) target(addr netip.AddrPort, user string, params map[string]string) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: addr.Addr().String(), Port: int(addr.Port())}
	u.UriParams = sip.NewParams()
	if c.transport != "udp" {
		u.UriParams.Add("transport", c.transport)
	}
	for k, v := range params {
		u.UriParams.Add(k, v)
	}
	return u
}

// offerMedia builds one sendonly m-line per party, each on its own local socket.
func (c *testSRC) offerMedia(opts callOpts, conns []*net.UDPConn) *sdp.Session {
	t := c.t
	offer := &sdp.Session{Origin: sdp.Origin{Username: "src", SessionID: uint64(time.Now().UnixNano()), SessionVersion: 1,
		Addr: netip.MustParseAddr("127.0.0.1")}, Name: "test-src", Addr: netip.MustParseAddr("127.0.0.1")}
	for i, p := range opts.parties {
		codecs := []sdp.Codec{sdp.PCMU, sdp.PCMA, sdp.TelephoneEvent}
		if p.law == audio.Alaw {
			codecs = []sdp.Codec{sdp.PCMA, sdp.TelephoneEvent}
		}
		o, err := sdp.NewOffer(sdp.OfferOptions{Addr: netip.MustParseAddr("127.0.0.1"),
			Port: conns[i].LocalAddr().(*net.UDPAddr).Port, Codecs: codecs, Direction: sdp.SendOnly,
			Label: p.label, SRTP: opts.srtp})
		require.NoError(t, err)
		offer.Media = append(offer.Media, o.Media[0])
	}
	return offer
}

// call starts a recording session and the RTP of every party.
func (c *testSRC) call(addr netip.AddrPort, opts callOpts) (*srcCall, error) {
	t := c.t
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns := make([]*net.UDPConn, len(opts.parties))
	for i := range conns {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		conns[i] = conn
	}
	offer := c.offerMedia(opts, conns)
	sc := &srcCall{c: c, offer: offer, opts: opts}
	var req *sip.Request
	if opts.genesysUser != "" {
		sc.target = c.target(addr, opts.genesysUser, opts.genesysParams)
		req = sip.NewRequest(sip.INVITE, sc.target)
		req.SetBody(offer.Marshal())
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	} else {
		sc.target = c.target(addr, "srs", nil)
		var parties []siprec.RecordingParty
		for _, p := range opts.parties {
			parties = append(parties, siprec.RecordingParty{AOR: p.aor, Label: p.label})
		}
		cd := siprec.CallData{CallUUID: opts.callUUID, ConnID: "conn-" + opts.callUUID, RecordDN: "7001", AgentID: "agent1"}
		if opts.extraMetaCall != nil {
			cd = *opts.extraMetaCall
		}
		sc.meta = siprec.BuildMetadata("sess-"+opts.callUUID, parties, cd, time.Now())
		md, err := sc.meta.Marshal()
		require.NoError(t, err)
		ct, body := siprec.BuildBody(offer.Marshal(), md)
		req = sip.NewRequest(sip.INVITE, sc.target)
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", ct))
		if !opts.noRequire {
			req.AppendHeader(sip.NewHeader("Require", "siprec"))
		}
	}
	req.SetTransport(strings.ToUpper(c.transport))
	ch := c.contact
	req.AppendHeader(&ch)
	dua := sipgo.DialogUA{Client: c.cli, ContactHDR: c.contact}
	d, err := dua.WriteInvite(ctx, req)
	if err != nil {
		closeConns(conns)
		return nil, err
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		d.Close()
		closeConns(conns)
		return nil, err
	}
	sc.started = time.Now()
	sc.d = d
	sc.callID = sipx.CallID(req)
	sc.bye = make(chan struct{})
	c.mu.Lock()
	c.byes[sc.callID] = sc.bye
	c.mu.Unlock()
	require.NoError(t, d.Ack(ctx))
	answer, err := sdp.Parse(d.InviteResponse.Body())
	require.NoError(t, err)
	sc.answer = answer
	for i, p := range opts.parties {
		am := answer.Media[i]
		if am.Port == 0 {
			conns[i].Close()
			sc.streams = append(sc.streams, nil)
			continue
		}
		var keys *media.SRTPKeys
		if len(offer.Media[i].Crypto) > 0 {
			cr := offer.Media[i].Crypto[0]
			keys = &media.SRTPKeys{Suite: cr.Suite, Key: cr.Key}
		}
		ms, err := media.NewSession(media.Config{Conn: conns[i], Remote: am.RTPAddr(), PayloadType: uint8(p.law),
			SRTPSend: keys, SSRC: uint32(1000 + i)})
		require.NoError(t, err)
		st := media.NewStream(media.StreamConfig{Session: ms, Source: audio.NewTone(p.tone, 0), Law: p.law})
		st.Start(c.ctx)
		sc.streams = append(sc.streams, st)
	}
	return sc, nil
}

func closeConns(conns []*net.UDPConn) {
	for _, c := range conns {
		c.Close()
	}
}

// setSending stops/starts the RTP of every party (before/after the pause signalling).
func (sc *srcCall) setSending(on bool) {
	for _, st := range sc.streams {
		if st != nil {
			st.SetSending(on)
		}
	}
}

// reinvite sends a re-INVITE setting every m-line's direction, optionally with metadata,
// and acknowledges the answer.
func (sc *srcCall) reinvite(dir sdp.Direction, meta *siprec.Metadata) *sdp.Session {
	offer := sc.offer.Clone()
	for i := range offer.Media {
		offer.Media[i].Direction = dir
	}
	return sc.reoffer(offer, meta)
}

// reoffer sends offer (and metadata) in a re-INVITE and acknowledges the answer.
func (sc *srcCall) reoffer(offer *sdp.Session, meta *siprec.Metadata) *sdp.Session {
	t := sc.c.t
	offer.NextVersion()
	sc.offer = offer
	req := sip.NewRequest(sip.INVITE, sc.d.InviteResponse.Contact().Address)
	if meta != nil {
		md, err := meta.Marshal()
		require.NoError(t, err)
		ct, body := siprec.BuildBody(offer.Marshal(), md)
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", ct))
	} else {
		req.SetBody(offer.Marshal())
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := sc.d.Do(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode, res.Reason)
	require.NoError(t, sc.d.WriteRequest(sip.NewRequest(sip.ACK, sc.d.InviteResponse.Contact().Address)))
	answer, err := sdp.Parse(res.Body())
	require.NoError(t, err)
	sc.answer = answer
	return answer
}

// addParty adds a party (a supervisor joining): a new sendonly m-line with its own socket
// and a datamode=partial metadata update, then starts its RTP.
func (sc *srcCall) addParty(p party) {
	t := sc.c.t
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	o := sc.c.offerMedia(callOpts{parties: []party{p}, srtp: sc.opts.srtp}, []*net.UDPConn{conn})
	offer := sc.offer.Clone()
	offer.Media = append(offer.Media, o.Media[0])
	partial := sc.meta.AddParty(siprec.RecordingParty{AOR: p.aor, Label: p.label}, time.Now())
	answer := sc.reoffer(offer, partial)
	am := answer.Media[len(answer.Media)-1]
	require.NotZero(t, am.Port, "new stream accepted")
	ms, err := media.NewSession(media.Config{Conn: conn, Remote: am.RTPAddr(), PayloadType: uint8(p.law), SSRC: 2000})
	require.NoError(t, err)
	st := media.NewStream(media.StreamConfig{Session: ms, Source: audio.NewTone(p.tone, 0), Law: p.law})
	st.Start(sc.c.ctx)
	sc.streams = append(sc.streams, st)
	sc.opts.parties = append(sc.opts.parties, p)
}

// removeParty ends party i: its RTP stops, its m-line goes inactive, and a partial update
// disassociates its participant.
func (sc *srcCall) removeParty(i int) {
	sc.streams[i].SetSending(false)
	var pid string
	for _, st := range sc.meta.Streams {
		if st.Label == sc.opts.parties[i].label {
			for _, p := range sc.meta.Participants {
				for _, id := range p.Send {
					if id == st.ID {
						pid = p.ID
					}
				}
			}
		}
	}
	require.NotEmpty(sc.c.t, pid)
	partial := sc.meta.RemoveParty(pid, time.Now())
	offer := sc.offer.Clone()
	offer.Media[i].Direction = sdp.Inactive
	sc.reoffer(offer, partial)
}

// hangup stops the media and sends BYE.
func (sc *srcCall) hangup() {
	for _, st := range sc.streams {
		if st != nil {
			_ = st.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(sc.c.t, sc.d.Bye(ctx))
	sc.d.Close()
}

// stopMedia stops the RTP without signalling (used before a kill).
func (sc *srcCall) stopMedia() {
	for _, st := range sc.streams {
		if st != nil {
			_ = st.Close()
		}
	}
}

func (sc *srcCall) String() string { return fmt.Sprintf("call %s", sc.callID) }
