package load

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/pkg/sipx"
)

// byeTimeout bounds the BYE of one call.
const byeTimeout = 5 * time.Second

// Stream labels of a recording session (SDP a=label and metadata stream labels).
const (
	LabelCustomer = "customer"
	LabelAgent    = "agent"
)

// runner is one load run.
type runner struct {
	cfg      Config
	log      *slog.Logger
	out      io.Writer
	gen      *Generator
	src      *src
	local    netip.Addr
	payloads *tonePayloads
	prefix   string
	clients  []*recclient.Client
	procs    *procWatch

	mu          sync.Mutex
	setups      []time.Duration
	failures    map[string]int
	expected    []expectedCall
	firstInvite time.Time
	lastAnswer  time.Time

	attempted, established, failed atomic.Int64
	endedByPeer, byeFailed         atomic.Int64
	active, peakActive             atomic.Int64
}

// Run drives one load run and returns its report. Progress lines go to out
// (nil: none). It returns an error only when the run could not be set up
// (invalid config, no sockets); a run whose checks failed returns a report
// whose Err is non-nil. Cancelling ctx stops launching calls, ends the active
// ones (RTP stopped, BYE sent) and skips verification.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Report, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	target, transport, _ := parseTarget(cfg.Target) // validated
	local, err := localIP(cfg.LocalIP, target, transport)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, log: cfg.Logger.With("component", "load"), out: out, local: local,
		payloads: newTonePayloads(audio.Ulaw), failures: map[string]int{},
		prefix: fmt.Sprintf("load-%08x-", rand.Uint32())}
	for _, u := range cfg.Recorders {
		base, _ := apiURL(u) // validated
		r.clients = append(r.clients, recclient.New(base, cfg.Token))
	}
	r.gen, err = NewGenerator(GeneratorConfig{LocalIP: local, Sockets: cfg.RTPSockets, Logger: r.log})
	if err != nil {
		return nil, err
	}
	defer r.gen.Close()
	r.src, err = newSRC(target, transport, local, cfg.TLS, r.log)
	if err != nil {
		return nil, err
	}
	defer r.src.close()
	r.procs = newProcWatch(append([]Process{{Name: "load", PID: os.Getpid()}}, cfg.Processes...))
	host := newHostWatch()

	started := time.Now()
	lossBase := r.recorderLoss(ctx)
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(ctx, started, lossBase, stopProgress)
	}()
	r.launch(ctx)
	close(stopProgress)
	<-progressDone
	gs := r.gen.Stats()
	elapsed := time.Since(started)

	rep := r.report(started, elapsed, gs)
	// What the calls cost, before verification adds its own searches and downloads.
	rep.Processes = r.procs.stats(int(r.established.Load()), int(r.peakActive.Load()))
	rep.Host = host.stats(rep.Processes)
	var extra []string
	switch {
	case len(r.clients) == 0:
	case ctx.Err() != nil:
		extra = append(extra, "run cancelled: recordings not verified")
	default:
		v := &verifier{clients: r.clients, since: started.Add(-time.Second), prefix: r.prefix, sample: cfg.VerifySample, log: r.log}
		r.mu.Lock()
		expected := slices.Clone(r.expected)
		r.mu.Unlock()
		slices.SortFunc(expected, func(a, b expectedCall) int { return cmp.Compare(a.callUUID, b.callUUID) })
		rs, as, err := v.verify(ctx, expected)
		if err != nil {
			extra = append(extra, "verification failed: "+err.Error())
		}
		rep.Recordings, rep.Audio = rs, as
	}
	rep.finish()
	rep.Problems = append(rep.Problems, extra...)
	rep.Pass = len(rep.Problems) == 0
	return rep, nil
}

// report assembles the signalling and media figures.
func (r *runner) report(started time.Time, elapsed time.Duration, gs GeneratorStats) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg := r.cfg
	rep := &Report{
		Mode: cfg.Mode, Target: cfg.Target, Started: started.UTC(), ElapsedMs: elapsed.Milliseconds(),
		Offered: Offered{Calls: cfg.Calls, CPS: cfg.CPS, HoldMs: cfg.Hold.Milliseconds(), MaxActive: cfg.MaxActive,
			StreamsPerCall: streamsPerCall, SetupP99LimitMs: ms(cfg.SetupP99Limit)},
		Calls: CallStats{
			Attempted: int(r.attempted.Load()), Established: int(r.established.Load()), Failed: int(r.failed.Load()),
			Failures: maps.Clone(r.failures), EndedByPeer: int(r.endedByPeer.Load()), ByeFailed: int(r.byeFailed.Load()),
			PeakActive: int(r.peakActive.Load()),
		},
		Setup: latencyOf(r.setups),
		Media: MediaStats{Streams: int(r.established.Load()) * streamsPerCall, Sockets: len(r.gen.socks),
			PacketsSent: gs.Sent, SendErrors: gs.SendErrors, PacketsReceived: gs.Received, MaxLagMs: ms(gs.MaxLag),
			MaxTickMs: ms(gs.MaxTick), SchedulerCPUSeconds: round3(gs.CPU.Seconds())},
	}
	if span := r.lastAnswer.Sub(r.firstInvite); rep.Calls.Established > 1 && span > 0 {
		rep.Calls.SetupsPerSec = round3(float64(rep.Calls.Established-1) / span.Seconds())
	}
	return rep
}

// launch starts the calls at the configured rate and waits for all of them.
func (r *runner) launch(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var sem chan struct{}
	if r.cfg.MaxActive > 0 {
		sem = make(chan struct{}, r.cfg.MaxActive)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for i := range r.cfg.Calls {
		if r.cfg.CPS > 0 {
			due := start.Add(time.Duration(float64(i) / r.cfg.CPS * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			r.call(ctx, i)
		}()
	}
}

// party is one side of a recorded call.
type party struct {
	label string
	dn    string
}

// partiesFor gives call i a customer number and an agent DN whose lab tones
// differ (customers 2100-3000 Hz, agents 7001-7005 at 400-2000 Hz).
func partiesFor(i int) [streamsPerCall]party {
	return [streamsPerCall]party{
		{label: LabelCustomer, dn: fmt.Sprintf("+1555%07d", i%10_000_000)},
		{label: LabelAgent, dn: strconv.Itoa(7001 + i%5)},
	}
}

func (r *runner) fail(key string) {
	r.failed.Add(1)
	r.mu.Lock()
	r.failures[key]++
	r.mu.Unlock()
}

// call runs one recording session: INVITE, RTP for the hold time, BYE.
func (r *runner) call(ctx context.Context, i int) {
	r.attempted.Add(1)
	callUUID := fmt.Sprintf("%s%06d", r.prefix, i)
	parties := partiesFor(i)
	var streams [streamsPerCall]*Stream
	defer func() {
		for _, st := range streams {
			if st != nil {
				st.requestStop()
			}
		}
	}()
	for k, p := range parties {
		st, err := r.gen.NewStream(StreamConfig{Payload: r.payloads.forDN(p.dn), PayloadType: audio.Ulaw.PayloadType()})
		if err != nil {
			r.fail("generator")
			return
		}
		streams[k] = st
	}
	req, err := r.buildInvite(callUUID, parties, streams)
	if err != nil {
		r.log.Error("building the INVITE failed", "err", err)
		r.fail("local")
		return
	}
	callID := sipx.CallID(req)
	byeCh := r.src.watchBye(callID)
	defer r.src.unwatch(callID)

	d, setup, err := r.setup(ctx, req)
	if err != nil {
		r.fail(err.Error())
		return
	}
	defer d.Close()
	if err := d.Ack(context.Background()); err != nil {
		r.log.Debug("ACK failed", "call_uuid", callUUID, "err", err)
	}
	answer, err := sdp.Parse(d.InviteResponse.Body())
	if err != nil || len(answer.Media) < streamsPerCall {
		r.fail("bad-answer")
		r.bye(d)
		return
	}
	for k := range streams {
		if answer.Media[k].Port == 0 {
			r.fail("refused-stream")
			r.bye(d)
			return
		}
	}
	r.answered(setup)
	for k, st := range streams {
		st.Start(answer.Media[k].RTPAddr())
	}

	hold := time.NewTimer(r.cfg.Hold)
	byPeer := false
	select {
	case <-hold.C:
	case <-ctx.Done():
		hold.Stop()
	case <-byeCh:
		hold.Stop()
		byPeer = true
	}
	exp := expectedCall{callUUID: callUUID}
	for k, s := range StopAll(streams[:]...) {
		exp.streams = append(exp.streams, expectedStream{label: parties[k].label, ssrc: s.SSRC, sent: s.Sent})
	}
	r.active.Add(-1)
	if byPeer {
		r.endedByPeer.Add(1)
	} else {
		r.bye(d)
	}
	r.mu.Lock()
	r.expected = append(r.expected, exp)
	r.mu.Unlock()
}

// setup sends the INVITE and waits for its final response. It returns the
// INVITE-to-200 time, or an error whose text is the failure key.
func (r *runner) setup(ctx context.Context, req *sip.Request) (*sipgo.DialogClientSession, time.Duration, error) {
	// A forced cancel makes WaitAnswer return at once instead of waiting for a
	// provisional response to CANCEL (up to Timer B).
	ictx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopAfter := context.AfterFunc(ctx, func() { cancel(sipgo.WaitAnswerForceCancelErr) })
	defer stopAfter()
	timer := time.AfterFunc(r.cfg.SetupTimeout, func() { cancel(sipgo.WaitAnswerForceCancelErr) })
	defer timer.Stop()

	t0 := time.Now()
	r.mu.Lock()
	if r.firstInvite.IsZero() {
		r.firstInvite = t0
	}
	r.mu.Unlock()
	d, err := r.src.dua.WriteInvite(ictx, req)
	if err == nil {
		err = d.WaitAnswer(ictx, sipgo.AnswerOptions{})
	}
	setup := time.Since(t0)
	if err != nil {
		if d != nil {
			_ = d.Close()
		}
		key := failureKey(ctx, err)
		if key == "transport" && ictx.Err() != nil {
			key = "timeout"
		}
		r.log.Debug("recording session setup failed", "err", err, "failure", key)
		return nil, setup, fmt.Errorf("%s", key)
	}
	return d, setup, nil
}

func (r *runner) answered(setup time.Duration) {
	r.established.Add(1)
	n := r.active.Add(1)
	for {
		p := r.peakActive.Load()
		if n <= p || r.peakActive.CompareAndSwap(p, n) {
			break
		}
	}
	r.mu.Lock()
	r.setups = append(r.setups, setup)
	r.lastAnswer = time.Now()
	r.mu.Unlock()
}

func (r *runner) bye(d *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		r.byeFailed.Add(1)
		r.log.Debug("BYE failed", "err", err)
	}
}

// buildInvite makes the SIPREC INVITE of a call: two sendonly PCMU m-lines
// labelled customer and agent, and a complete metadata snapshot.
func (r *runner) buildInvite(callUUID string, parties [streamsPerCall]party, streams [streamsPerCall]*Stream) (*sip.Request, error) {
	offer := &sdp.Session{
		Origin: sdp.Origin{Username: "arlab-load", SessionID: rand.Uint64() >> 1, SessionVersion: 1, Addr: r.local},
		Name:   "arlab load", Addr: r.local,
	}
	rparties := make([]siprec.RecordingParty, 0, len(parties))
	for k, p := range parties {
		o, err := sdp.NewOffer(sdp.OfferOptions{Addr: r.local, Port: streams[k].LocalPort(), Codecs: []sdp.Codec{sdp.PCMU},
			Direction: sdp.SendOnly, Label: p.label})
		if err != nil {
			return nil, err
		}
		offer.Media = append(offer.Media, o.Media[0])
		rparties = append(rparties, siprec.RecordingParty{AOR: "sip:" + p.dn + "@" + r.local.String(), Name: p.dn, Label: p.label})
	}
	agent := parties[1].dn
	md := siprec.BuildMetadata(fmt.Sprintf("%032x", rand.Uint64()), rparties, siprec.CallData{
		CallUUID: callUUID, ConnID: fmt.Sprintf("%016x", rand.Uint64()), RecordDN: agent, OtherDN: parties[0].dn,
		AgentID: "agent" + agent, RecordingID: callUUID, DNs: []string{parties[0].dn, agent},
	}, time.Now())
	xml, err := md.Marshal()
	if err != nil {
		return nil, err
	}
	ct, body := siprec.BuildBody(offer.Marshal(), xml)
	return r.src.newInvite(ct, body, callUUID), nil
}

// localIP is the configured address, or the one that routes to the target.
func localIP(configured string, target sip.Uri, transport string) (netip.Addr, error) {
	if configured != "" {
		return netip.ParseAddr(configured)
	}
	conn, err := net.Dial("udp", net.JoinHostPort(target.Host, strconv.Itoa(target.Port)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("load: no local address towards %s (%s): %w", target.Host, transport, err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
