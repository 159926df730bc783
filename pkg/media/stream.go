package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/arlab/arlab/pkg/audio"
)

// Source produces audio for a Stream, one frame per call. audio.Tone, audio.Noise and audio.Silence
// implement it.
type Source interface {
	Read(frame []int16)
}

const (
	defaultPtime     = 20 * time.Millisecond
	defaultMaxRecord = 10 * time.Minute
	// maxSendLag is how far the sender may fall behind its schedule before it stops catching up (bursting)
	// and skips ahead instead, leaving a gap: a stalled process should not flood the peer with seconds of
	// audio at once.
	maxSendLag = time.Second
	// dtmfFlushAfter is how far past an event's last reported duration audio must be before an event whose
	// end packets never arrived is reported anyway.
	dtmfFlushAfter = 100 * time.Millisecond
)

// StreamConfig configures a Stream.
type StreamConfig struct {
	// Session carries the stream; the Stream owns it from NewStream on (Close closes it) and is its only
	// reader.
	Session *Session
	// Source is the audio sent; nil sends silence.
	Source Source
	// Law encodes sent audio and sets the session's payload type (Ulaw = PT 0, Alaw = PT 8). Received audio is
	// decoded by each packet's own payload type.
	Law audio.Law
	// Ptime is the packetisation interval; 0 means 20 ms.
	Ptime time.Duration
	// Record keeps received, decoded audio on a timeline (see Received).
	Record bool
	// MaxRecord caps the recorded timeline; 0 means 10 minutes.
	MaxRecord time.Duration
	// Logger defaults to the session's logger.
	Logger *slog.Logger
}

// Stream is a paced, two-way G.711 media stream: the phone's and the load tools' audio. Start runs a sender
// (one frame per Ptime, on a wall-clock schedule) and a receiver goroutine, both ending on ctx cancel or
// Close.
type Stream struct {
	sess      *Session
	log       *slog.Logger
	ptime     time.Duration
	spf       uint32 // samples per frame
	record    bool
	law       atomic.Uint32
	sending   atomic.Bool
	receiving atomic.Bool
	onDTMF    atomic.Pointer[func(DTMFEvent)]

	srcMu sync.Mutex
	src   Source

	dtmfCh chan dtmfReq
	tl     timeline
	rx     dtmfRx // receiver goroutine only

	mu        sync.Mutex
	started   bool
	closed    bool
	cancel    context.CancelFunc
	stopAfter func() bool
	sendDone  chan struct{} // closed when the sender exits (or at Close if never started)
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type dtmfReq struct {
	ev   DTMFEvent
	done chan error
}

// NewStream returns a stream over cfg.Session; call Start to run it. A nil Session gives a Stream whose Start
// does nothing; an invalid Law falls back to Ulaw.
func NewStream(cfg StreamConfig) *Stream {
	if cfg.Ptime <= 0 {
		cfg.Ptime = defaultPtime
	}
	if cfg.MaxRecord <= 0 {
		cfg.MaxRecord = defaultMaxRecord
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
		if cfg.Session != nil {
			cfg.Logger = cfg.Session.log
		}
	}
	st := &Stream{
		sess:     cfg.Session,
		log:      cfg.Logger,
		ptime:    cfg.Ptime,
		record:   cfg.Record,
		src:      cfg.Source,
		dtmfCh:   make(chan dtmfReq),
		sendDone: make(chan struct{}),
	}
	rate := uint32(defaultClockRate)
	if st.sess != nil {
		rate = st.sess.clockRate
	}
	st.spf = uint32(int64(cfg.Ptime) * int64(rate) / int64(time.Second))
	if st.spf == 0 {
		st.ptime = defaultPtime
		st.spf = uint32(int64(defaultPtime) * int64(rate) / int64(time.Second))
	}
	st.tl = timeline{max: int(cfg.MaxRecord.Seconds() * float64(rate)), rate: float64(rate)}
	st.sending.Store(true)
	st.receiving.Store(true)
	if !cfg.Law.Valid() {
		st.log.Warn("invalid G.711 law, using PCMU", "law", cfg.Law.String())
		cfg.Law = audio.Ulaw
	}
	st.SetLaw(cfg.Law)
	return st
}

// Session returns the stream's session (for SetRemote, SetSRTP, statistics).
func (st *Stream) Session() *Session { return st.sess }

// SetLaw changes the codec of sent audio and the session's payload type (after a re-INVITE changed codec).
// An invalid law is ignored.
func (st *Stream) SetLaw(l audio.Law) {
	if !l.Valid() {
		return
	}
	st.law.Store(uint32(l))
	if st.sess != nil {
		st.sess.SetPayloadType(l.PayloadType())
	}
}

// SetSource changes the audio sent from the next frame on; nil sends silence.
func (st *Stream) SetSource(src Source) {
	st.srcMu.Lock()
	st.src = src
	st.srcMu.Unlock()
}

// SetSending starts or stops sending (hold). While stopped, timestamps keep advancing with the wall clock,
// so the receiver sees a gap of the right length rather than compressed time; the first packet after
// resuming carries the marker bit.
func (st *Stream) SetSending(on bool) { st.sending.Store(on) }

// SetReceiving starts or stops taking in received audio and DTMF; packets are still read (and counted in
// RecvStats) but not recorded. Audio that arrives later is still placed by timestamp, so a gap remains.
func (st *Stream) SetReceiving(on bool) { st.receiving.Store(on) }

// OnDTMF sets the callback for received RFC 4733 digits: one call per digit (on its first end packet, or
// once audio has moved well past an event whose end packets were lost, with End false). It runs on the
// receiver goroutine and must not block.
func (st *Stream) OnDTMF(fn func(ev DTMFEvent)) {
	if fn == nil {
		st.onDTMF.Store(nil)
		return
	}
	st.onDTMF.Store(&fn)
}

// Received returns a copy of the received, decoded audio placed on a timeline by RTP timestamp (gaps are
// zeros); sample 0 is the first received audio packet. Empty unless StreamConfig.Record.
func (st *Stream) Received() []int16 { return st.tl.snapshot() }

// RecvStats returns the statistics of the received stream.
func (st *Stream) RecvStats() Stats {
	if st.sess == nil {
		return Stats{}
	}
	return st.sess.Stats()
}

// Start runs the sender and receiver goroutines until ctx is cancelled or Close. It does nothing when
// called again, after Close, or without a Session. Cancelling ctx stops the goroutines but leaves the
// session open; Close releases it.
func (st *Stream) Start(ctx context.Context) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.started || st.closed || st.sess == nil {
		return
	}
	st.started = true
	ctx, st.cancel = context.WithCancel(ctx)
	// A blocked read only returns on close or deadline: expire the deadline when ctx ends.
	st.stopAfter = context.AfterFunc(ctx, func() { _ = st.sess.conn.SetReadDeadline(time.Unix(1, 0)) })
	st.wg.Add(2)
	go st.sendLoop(ctx)
	go st.recvLoop(ctx)
}

// Close stops the goroutines, waits for them and closes the session. It is idempotent.
func (st *Stream) Close() error {
	st.closeOnce.Do(func() {
		st.mu.Lock()
		st.closed = true
		cancel, started := st.cancel, st.started
		st.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		st.wg.Wait()
		if !started {
			close(st.sendDone)
		}
		if st.stopAfter != nil {
			st.stopAfter()
		}
		if st.sess != nil {
			st.closeErr = st.sess.Close()
		}
	})
	return st.closeErr
}

// SendDTMF sends ev as RFC 4733 events in place of audio for its duration, and returns once its last packet
// is sent (or ctx ends, or the stream closes). It fails with ErrNotSending while on hold.
func (st *Stream) SendDTMF(ctx context.Context, ev DTMFEvent) error {
	if _, err := eventCode(ev.Digit); err != nil {
		return err
	}
	st.mu.Lock()
	started := st.started
	st.mu.Unlock()
	if !started || !st.sending.Load() {
		return ErrNotSending
	}
	req := dtmfReq{ev: ev, done: make(chan error, 1)}
	select {
	case st.dtmfCh <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-st.sendDone:
		return ErrClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-st.sendDone:
		return ErrClosed
	}
}

// sendLoop sends one frame per ptime on a wall-clock schedule (tick k is due at start + k*ptime), so timer
// latency never accumulates into drift: a late tick is followed by an early one.
func (st *Stream) sendLoop(ctx context.Context) {
	defer st.wg.Done()
	defer close(st.sendDone)

	frame := make([]int16, st.spf)
	payload := make([]byte, st.spf)
	var (
		queue    []dtmfReq
		ev       *eventTx
		evReq    dtmfReq
		marker   = true
		tick     int64
		failures int
		start    = time.Now()
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	defer func() {
		for _, r := range queue {
			r.done <- ErrClosed
		}
		if ev != nil {
			evReq.done <- ErrClosed
		}
	}()

	for {
		select {
		case <-ctx.Done():
			return
		case req := <-st.dtmfCh:
			queue = append(queue, req)
			continue
		case <-timer.C:
		}

		if lag := time.Since(start.Add(time.Duration(tick) * st.ptime)); lag > maxSendLag && ev == nil {
			skip := int64(lag / st.ptime)
			tick += skip
			st.sess.AdvanceTimestamp(uint32(skip) * st.spf)
			marker = true
			st.log.Warn("rtp sender stalled, skipping ahead", "lag", lag)
		}

		var err error
		switch {
		case ev != nil || (len(queue) > 0 && st.sending.Load()):
			if ev == nil {
				evReq, queue = queue[0], queue[1:]
				if ev, err = st.sess.beginEvent(evReq.ev, st.ptime); err != nil {
					evReq.done <- err
					ev = nil
					break
				}
			}
			var done bool
			done, err = st.sess.writeEventStep(ev)
			if done || (err != nil && !errors.Is(err, ErrNoRemote)) {
				evReq.done <- err
				ev = nil
			}
		case st.sending.Load():
			st.srcMu.Lock()
			src := st.src
			st.srcMu.Unlock()
			if src != nil {
				src.Read(frame)
			} else {
				clear(frame)
			}
			law := audio.Law(st.law.Load())
			n := law.Encode(payload, frame)
			err = st.sess.WriteFrame(payload[:n], st.spf, marker)
			marker = false
		default:
			for _, r := range queue {
				r.done <- ErrNotSending
			}
			queue = queue[:0]
			st.sess.AdvanceTimestamp(st.spf)
			marker = true
		}
		if err != nil {
			failures++
			if failures == 1 || failures%500 == 0 {
				st.log.Debug("rtp send failed", "err", err, "failures", failures)
			}
		}

		tick++
		timer.Reset(time.Until(start.Add(time.Duration(tick) * st.ptime)))
	}
}

// recvLoop reads packets until the session closes or ctx ends.
func (st *Stream) recvLoop(ctx context.Context) {
	defer st.wg.Done()
	buf := make([]byte, st.sess.maxPacket+1)
	pcm := make([]int16, st.sess.maxPacket)
	var pkt rtp.Packet
	for {
		if _, err := st.sess.ReadPacket(buf, &pkt); err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				st.log.Warn("rtp receive stopped", "err", err)
			}
			return
		}
		if !st.receiving.Load() {
			continue
		}
		now := time.Now()
		if pkt.PayloadType == st.sess.EventPayloadType() {
			st.handleEvent(&pkt)
			continue
		}
		law, ok := audio.LawForPayloadType(pkt.PayloadType)
		if !ok {
			continue
		}
		st.maybeFlushDTMF(&pkt)
		if st.record {
			n := law.Decode(pcm, pkt.Payload)
			st.tl.place(pkt.SSRC, pkt.Timestamp, now, pcm[:n])
		}
	}
}

// dtmfRx deduplicates received telephone events: all packets of one event share SSRC and timestamp.
type dtmfRx struct {
	active   bool
	reported bool
	ssrc     uint32
	ts       uint32
	last     eventPayload
}

func (st *Stream) handleEvent(pkt *rtp.Packet) {
	p, ok := parseEventPayload(pkt.Payload)
	if !ok {
		return
	}
	if _, ok := eventDigit(p.code); !ok {
		return
	}
	rx := &st.rx
	if !rx.active || rx.ts != pkt.Timestamp || rx.ssrc != pkt.SSRC {
		st.flushDTMF()
		*rx = dtmfRx{active: true, ssrc: pkt.SSRC, ts: pkt.Timestamp}
	}
	if p.duration >= rx.last.duration {
		rx.last = p
	}
	if p.end && !rx.reported {
		rx.reported = true
		st.emitDTMF(p, true)
	}
}

// maybeFlushDTMF reports an event whose end never arrived once audio is well past it.
func (st *Stream) maybeFlushDTMF(pkt *rtp.Packet) {
	rx := &st.rx
	if !rx.active || rx.reported || pkt.SSRC != rx.ssrc {
		return
	}
	past := int64(int32(pkt.Timestamp - (rx.ts + uint32(rx.last.duration))))
	if past > int64(dtmfFlushAfter.Seconds()*float64(st.sess.clockRate)) {
		st.flushDTMF()
	}
}

func (st *Stream) flushDTMF() {
	if rx := &st.rx; rx.active && !rx.reported {
		rx.reported = true
		st.emitDTMF(rx.last, false)
	}
}

func (st *Stream) emitDTMF(p eventPayload, end bool) {
	fn := st.onDTMF.Load()
	if fn == nil {
		return
	}
	digit, _ := eventDigit(p.code)
	(*fn)(DTMFEvent{
		Digit:    digit,
		Duration: time.Duration(p.duration) * time.Second / time.Duration(st.sess.clockRate),
		End:      end,
		Volume:   p.volume,
	})
}

// String describes the stream for logs.
func (st *Stream) String() string {
	if st.sess == nil {
		return "media.Stream(nil session)"
	}
	return fmt.Sprintf("media.Stream(%s -> %s)", st.sess.LocalAddr(), st.sess.Remote())
}
