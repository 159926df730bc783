package mediaserver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/pkg/sipx"
)

// stubSRS is a minimal recording server for failure injection and for
// checking exactly what the media server sends: it keeps every INVITE and
// re-INVITE, answers a=recvonly per m-line on its own sockets, and captures
// the RTP of each m-line. It can refuse (reject), stay silent, send BYE, or
// crash (close everything without a word).
type stubSRS struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	cli    *sipgo.Client
	lis    *sipx.Server
	ctx    context.Context
	cancel context.CancelFunc

	reject  atomic.Int32 // answer INVITEs with this code when non-zero
	silent  atomic.Bool  // do not answer INVITEs (nor OPTIONS) at all
	crashed atomic.Bool

	mu       sync.Mutex
	sessions []*srsSession
	byCall   map[string]*srsSession
	invites  chan *srsSession
	wg       sync.WaitGroup
}

type srsSession struct {
	callID string
	invite *sip.Request
	ds     *sipgo.DialogServerSession

	mu        sync.Mutex
	reinvites []*sip.Request
	reinvAt   []time.Time
	streams   []*srsStream
	lastOffer *sdp.Session
	ended     chan struct{}
	endOnce   sync.Once
}

type srsStream struct {
	conn  *net.UDPConn
	label string

	mu       sync.Mutex
	packets  int
	ssrcs    map[uint32]bool
	pcm      []int16
	arrivals []time.Time
	seqs     []uint16
	tss      []uint32
}

func newStubSRS(t *testing.T) *stubSRS {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("arlab-test-srs"), sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	s := &stubSRS{t: t, ua: ua, srv: srv, cli: cli, byCall: map[string]*srsSession{}, invites: make(chan *srsSession, 16)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv.OnInvite(s.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		if ss := s.session(sipx.CallID(req)); ss != nil && req.CSeq().SeqNo == ss.invite.CSeq().SeqNo {
			_ = ss.ds.ReadAck(req, tx)
		}
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		if ss := s.session(sipx.CallID(req)); ss != nil {
			ss.end()
		}
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		if s.silent.Load() {
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	s.lis = sipx.NewServer(srv, testLogger())
	for _, n := range []string{"udp", "tcp"} {
		_, err := s.lis.Listen(s.ctx, n, "127.0.0.1:0", nil)
		require.NoError(t, err)
	}
	t.Cleanup(s.close)
	return s
}

// uri is the SIP URI of the stub on a transport.
func (s *stubSRS) uri(user string) string {
	return "sip:" + user + "@" + s.lis.Addr("tcp").String()
}

func (s *stubSRS) session(callID string) *srsSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byCall[callID]
}

func (s *stubSRS) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReInvite(req, tx)
		return
	}
	if s.silent.Load() {
		<-s.ctx.Done() // never answers; the media server must time out (and CANCEL)
		return
	}
	if code := s.reject.Load(); code != 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, int(code), "Rejected By Test", nil))
		return
	}
	ss := &srsSession{callID: sipx.CallID(req), invite: req, ended: make(chan struct{})}
	offer, err := offerOf(req)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, err.Error(), nil))
		return
	}
	answer, err := s.answer(ss, offer)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 500, err.Error(), nil))
		return
	}
	dua := sipgo.DialogUA{Client: s.cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{User: "srs", Host: "127.0.0.1", Port: int(s.lis.Addr(listenerOf(req)).Port()), UriParams: transportParams(req)}}}
	ds, err := dua.ReadInvite(req, tx)
	if err != nil {
		return
	}
	ss.ds = ds
	s.mu.Lock()
	s.sessions = append(s.sessions, ss)
	s.byCall[ss.callID] = ss
	s.mu.Unlock()
	if err := ds.RespondSDP(answer.Marshal()); err != nil {
		return
	}
	select {
	case s.invites <- ss:
	default:
	}
}

func listenerOf(req *sip.Request) string {
	if req.Transport() == "TCP" {
		return "tcp"
	}
	return "udp"
}

func transportParams(req *sip.Request) sip.HeaderParams {
	p := sip.NewParams()
	if req.Transport() == "TCP" {
		p.Add("transport", "tcp")
	}
	return p
}

// offerOf extracts the SDP of a (possibly multipart) INVITE.
func offerOf(req *sip.Request) (*sdp.Session, error) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	body, err := siprec.ParseBody(ct, req.Body())
	if err != nil && body == nil {
		return nil, err
	}
	if body.SDP == nil {
		return nil, errors.New("no SDP")
	}
	return sdp.Parse(body.SDP)
}

// answer answers every offered m-line recvonly (inactive if offered so),
// opening a capture socket for m-lines it has not seen yet.
func (s *stubSRS) answer(ss *srsSession, offer *sdp.Session) (*sdp.Session, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.lastOffer = offer
	ans := &sdp.Session{Origin: sdp.Origin{Username: "srs", SessionID: 1, SessionVersion: uint64(len(ss.reinvites) + 1), Addr: netip.MustParseAddr("127.0.0.1")},
		Addr: netip.MustParseAddr("127.0.0.1")}
	for i, m := range offer.Media {
		if i >= len(ss.streams) {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return nil, err
			}
			st := &srsStream{conn: conn, label: m.Label, ssrcs: map[uint32]bool{}}
			ss.streams = append(ss.streams, st)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				st.capture()
			}()
		}
		st := ss.streams[i]
		dir := sdp.RecvOnly
		if m.Direction == sdp.Inactive {
			dir = sdp.Inactive
		}
		port := st.conn.LocalAddr().(*net.UDPAddr).Port
		if m.Port == 0 {
			port = 0
		}
		ans.Media = append(ans.Media, sdp.Media{Type: "audio", Port: port, Proto: m.Proto, Codecs: m.Codecs[:1],
			Direction: dir, Label: m.Label, Addr: ans.Addr})
	}
	return ans, nil
}

func (s *stubSRS) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	ss := s.session(sipx.CallID(req))
	if ss == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	offer, err := offerOf(req)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, err.Error(), nil))
		return
	}
	ss.mu.Lock()
	ss.reinvites = append(ss.reinvites, req)
	ss.reinvAt = append(ss.reinvAt, time.Now())
	ss.mu.Unlock()
	answer, err := s.answer(ss, offer)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 500, err.Error(), nil))
		return
	}
	_ = tx.Respond(sip.NewSDPResponseFromRequest(req, answer.Marshal()))
}

// waitSession returns the next established session.
func (s *stubSRS) waitSession(within time.Duration) *srsSession {
	s.t.Helper()
	select {
	case ss := <-s.invites:
		return ss
	case <-time.After(within):
		s.t.Fatalf("no recording session within %v", within)
		return nil
	}
}

// bye ends a session from the recorder's side.
func (s *stubSRS) bye(ss *srsSession) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	require.NoError(s.t, ss.ds.Bye(ctx))
	ss.end()
}

// crash closes every socket without BYE, as a killed process would.
func (s *stubSRS) crash() {
	if s.crashed.Swap(true) {
		return
	}
	s.silent.Store(true)
	s.mu.Lock()
	sessions := append([]*srsSession(nil), s.sessions...)
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.closeStreams()
	}
}

// close shuts the stub down as a recorder would: BYE for every live
// session, then the sockets.
func (s *stubSRS) close() {
	s.mu.Lock()
	sessions := append([]*srsSession(nil), s.sessions...)
	s.mu.Unlock()
	if !s.crashed.Load() {
		for _, ss := range sessions {
			select {
			case <-ss.ended:
				continue
			default:
			}
			ctx, cancel := context.WithTimeout(s.ctx, 500*time.Millisecond)
			_ = ss.ds.Bye(ctx)
			cancel()
			ss.end()
		}
	}
	s.cancel()
	for _, ss := range sessions {
		ss.closeStreams()
	}
	_ = s.lis.Close()
	s.ua.Close()
	s.wg.Wait()
}

func (ss *srsSession) end() { ss.endOnce.Do(func() { close(ss.ended) }) }

func (ss *srsSession) closeStreams() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, st := range ss.streams {
		_ = st.conn.Close()
	}
}

func (ss *srsSession) stream(i int) *srsStream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if i >= len(ss.streams) {
		return nil
	}
	return ss.streams[i]
}

func (ss *srsSession) reinviteCount() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.reinvites)
}

// reinvite returns re-INVITE i and when it arrived.
func (ss *srsSession) reinvite(i int) (*sip.Request, time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.reinvites[i], ss.reinvAt[i]
}

func (ss *srsSession) offer() *sdp.Session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.lastOffer
}

func (st *srsStream) capture() {
	buf := make([]byte, 2048)
	var p packet
	for {
		n, err := st.conn.Read(buf)
		if err != nil {
			return
		}
		if !parseRTP(buf[:n], &p) {
			continue
		}
		st.mu.Lock()
		st.packets++
		st.ssrcs[p.ssrc] = true
		st.arrivals = append(st.arrivals, time.Now())
		st.seqs = append(st.seqs, p.seq)
		st.tss = append(st.tss, p.ts)
		if law, ok := audio.LawForPayloadType(p.pt); ok {
			pcm := make([]int16, len(p.payload))
			law.Decode(pcm, p.payload)
			st.pcm = append(st.pcm, pcm...)
		}
		st.mu.Unlock()
	}
}

func (st *srsStream) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.packets
}

// audioSince returns the decoded audio of packets that arrived after t.
func (st *srsStream) audioSince(t time.Time) []int16 {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []int16
	off := 0
	for _, a := range st.arrivals {
		n := frameSamples
		if off+n > len(st.pcm) {
			n = len(st.pcm) - off
		}
		if a.After(t) {
			out = append(out, st.pcm[off:off+n]...)
		}
		off += n
	}
	return out
}

// packetsBetween counts packets that arrived in [from, to).
func (st *srsStream) packetsBetween(from, to time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, a := range st.arrivals {
		if !a.Before(from) && a.Before(to) {
			n++
		}
	}
	return n
}

// lastArrival is when the latest packet came.
func (st *srsStream) lastArrival() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.arrivals) == 0 {
		return time.Time{}
	}
	return st.arrivals[len(st.arrivals)-1]
}

// ssrcCount is how many SSRCs the stream saw.
func (st *srsStream) ssrcCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.ssrcs)
}

// seqGaps counts sequence numbers skipped between consecutive packets.
func (st *srsStream) seqGaps() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	gaps := 0
	for i := 1; i < len(st.seqs); i++ {
		if d := st.seqs[i] - st.seqs[i-1]; d != 1 {
			gaps++
		}
	}
	return gaps
}
