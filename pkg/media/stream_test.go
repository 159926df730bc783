package media

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
)

var (
	toneA = audio.ToneForDN("7001")
	toneB = audio.ToneForDN("+15551230000")
	toneC = audio.ToneForDN("7100")
	cands = []float64{toneA, toneB, toneC}
)

// streamPair starts two recording streams sending to each other.
func streamPair(t *testing.T, a, b StreamConfig, sa, sb Config) (*Stream, *Stream) {
	t.Helper()
	a.Session, b.Session = pair(t, sa, sb)
	a.Record, b.Record = true, true
	A, B := NewStream(a), NewStream(b)
	t.Cleanup(func() {
		assert.NoError(t, A.Close())
		assert.NoError(t, B.Close())
	})
	A.Start(t.Context())
	B.Start(t.Context())
	return A, B
}

func waitPackets(t *testing.T, st *Stream, n uint64) {
	t.Helper()
	eventually(t, func() bool { return st.RecvStats().Packets >= n }, "packets received")
}

// audible drops unknown runs of at most one frame, which a frame straddling a change may produce.
func audible(segs []audio.Segment) []audio.Segment {
	var out []audio.Segment
	for _, s := range segs {
		if !s.Silent && s.Freq == 0 && s.Duration() <= 20*time.Millisecond {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Silent == s.Silent && out[n-1].Freq == s.Freq {
			out[n-1].End = s.End
			continue
		}
		out = append(out, s)
	}
	return out
}

func TestStreamToneBothWays(t *testing.T) {
	tests := []struct {
		name string
		law  audio.Law
		srtp bool
	}{
		{"pcmu", audio.Ulaw, false},
		{"pcma_srtp", audio.Alaw, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sa, sb Config
			if tc.srtp {
				kAB, err := NewSRTPKeys(SuiteAES128SHA1_80)
				require.NoError(t, err)
				kBA, err := NewSRTPKeys(SuiteAES128SHA1_32)
				require.NoError(t, err)
				sa = Config{SRTPSend: kAB, SRTPRecv: kBA}
				sb = Config{SRTPSend: kBA, SRTPRecv: kAB}
			}
			A, B := streamPair(t,
				StreamConfig{Source: audio.NewTone(toneA, 0), Law: tc.law},
				StreamConfig{Source: audio.NewTone(toneB, 0), Law: tc.law},
				sa, sb)
			waitPackets(t, A, 50) // 1 s of audio each way
			waitPackets(t, B, 50)
			require.NoError(t, A.Close())
			require.NoError(t, B.Close())

			for _, c := range []struct {
				name string
				st   *Stream
				want float64
			}{{"B hears A", B, toneA}, {"A hears B", A, toneB}} {
				rx := c.st.Received()
				assert.GreaterOrEqual(t, len(rx), 50*audio.FrameSamples, c.name)
				f, ok := audio.DominantTone(rx, cands)
				require.True(t, ok, c.name)
				assert.InDelta(t, c.want, f, 0, c.name)
				segs := audible(audio.Segments(rx, cands))
				require.Len(t, segs, 1, "%s: %+v", c.name, segs)
				assert.InDelta(t, c.want, segs[0].Freq, 0, c.name)

				st := c.st.RecvStats()
				assert.Zero(t, st.Lost, c.name)
				assert.Zero(t, st.Dropped, c.name)
				assert.Less(t, st.Jitter, 20.0, c.name)
			}
			assert.Equal(t, uint8(tc.law), A.Session().PayloadType())
		})
	}
}

func TestStreamHoldMakesTimelineGap(t *testing.T) {
	A, B := streamPair(t,
		StreamConfig{Source: audio.NewTone(toneA, 0)},
		StreamConfig{},
		Config{}, Config{})
	waitPackets(t, B, 15)

	held := time.Now()
	A.SetSending(false)
	time.Sleep(400 * time.Millisecond) // the hold itself, not a wait for an event
	A.SetSource(audio.NewTone(toneC, 0))
	A.SetSending(true)
	holdFor := time.Since(held)

	before := B.RecvStats().Packets
	waitPackets(t, B, before+15)
	require.NoError(t, A.Close())
	require.NoError(t, B.Close())

	segs := audible(audio.Segments(B.Received(), cands))
	require.Len(t, segs, 3, "%+v", segs)
	assert.InDelta(t, toneA, segs[0].Freq, 0)
	assert.True(t, segs[1].Silent)
	assert.InDelta(t, toneC, segs[2].Freq, 0)
	// The gap is as long as the hold (timestamps advanced with the wall clock), to within 40 ms.
	assert.InDelta(t, float64(holdFor), float64(segs[1].Duration()), float64(40*time.Millisecond),
		"gap %v, hold %v", segs[1].Duration(), holdFor)
	assert.InDelta(t, float64(400*time.Millisecond), float64(segs[1].Duration()), float64(60*time.Millisecond))
	// Nothing was lost: the gap is time, not missing packets.
	assert.Zero(t, B.RecvStats().Lost)
}

func TestStreamDTMFRoundTrip(t *testing.T) {
	A, B := streamPair(t,
		StreamConfig{Source: audio.NewTone(toneA, 0)},
		StreamConfig{},
		Config{}, Config{})
	A.Session().SetEventPayloadType(100)
	B.Session().SetEventPayloadType(100)
	got := make(chan DTMFEvent, 16)
	B.OnDTMF(func(ev DTMFEvent) { got <- ev })
	waitPackets(t, B, 5)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, A.SendDTMF(ctx, DTMFEvent{Digit: '5', Duration: 100 * time.Millisecond, Volume: 12}))
	// 5 intervals of tone plus 2 end retransmissions.
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.NoError(t, A.SendDTMF(ctx, DTMFEvent{Digit: '#', Duration: 60 * time.Millisecond}))
	require.ErrorIs(t, A.SendDTMF(ctx, DTMFEvent{Digit: 'z'}), ErrInvalidDigit)

	want := []DTMFEvent{
		{Digit: '5', Duration: 100 * time.Millisecond, End: true, Volume: 12},
		{Digit: '#', Duration: 60 * time.Millisecond, End: true},
	}
	for _, w := range want {
		select {
		case ev := <-got:
			assert.Equal(t, w, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("digit %q not received", w.Digit)
		}
	}
	// Audio resumes after the events, and the retransmitted end packets gave no second callback.
	before := B.RecvStats().Packets
	waitPackets(t, B, before+10)
	assert.Empty(t, got)

	A.SetSending(false)
	assert.ErrorIs(t, A.SendDTMF(ctx, DTMFEvent{Digit: '1'}), ErrNotSending)
	A.SetSending(true)

	require.NoError(t, A.Close())
	require.NoError(t, B.Close())
	assert.ErrorIs(t, A.SendDTMF(ctx, DTMFEvent{Digit: '1'}), ErrClosed)

	// On B's timeline the back-to-back events replaced audio for exactly their spans: '5' (5 intervals + 2
	// end retransmissions) and '#' (3 + 2), 240 ms of silence between tone.
	segs := audible(audio.Segments(B.Received(), cands))
	require.Len(t, segs, 3, "%+v", segs)
	assert.True(t, segs[1].Silent)
	assert.InDelta(t, float64(240*time.Millisecond), float64(segs[1].Duration()), float64(20*time.Millisecond))
}

func TestStreamDTMFFromSessionWriteEventAndLostEnd(t *testing.T) {
	a, b := pair(t, Config{}, Config{})
	B := NewStream(StreamConfig{Session: b})
	t.Cleanup(func() { _ = B.Close() })
	got := make(chan DTMFEvent, 4)
	B.OnDTMF(func(ev DTMFEvent) { got <- ev })
	B.Start(t.Context())

	require.NoError(t, a.WriteEvent(DTMFEvent{Digit: 'B', Duration: 40 * time.Millisecond}))
	ev := <-got
	assert.Equal(t, DTMFEvent{Digit: 'B', Duration: 40 * time.Millisecond, End: true}, ev)

	// An event whose end packets are lost is reported once audio is well past it.
	tx, err := a.beginEvent(DTMFEvent{Digit: '7', Duration: 40 * time.Millisecond}, 20*time.Millisecond)
	require.NoError(t, err)
	for range 1 { // first update only
		_, err := a.writeEventStep(tx)
		require.NoError(t, err)
	}
	for range 10 {
		require.NoError(t, a.WriteFrame(frameOf(0xff), 160, false))
	}
	select {
	case ev := <-got:
		assert.Equal(t, DTMFEvent{Digit: '7', Duration: 20 * time.Millisecond, End: false}, ev)
	case <-time.After(5 * time.Second):
		t.Fatal("unfinished event not reported")
	}
	assert.Empty(t, got)
}

func TestStreamSetReceiving(t *testing.T) {
	a, b := pair(t, Config{}, Config{})
	A := NewStream(StreamConfig{Session: a, Source: audio.NewTone(toneA, 0)})
	B := NewStream(StreamConfig{Session: b, Record: true})
	t.Cleanup(func() {
		assert.NoError(t, A.Close())
		assert.NoError(t, B.Close())
	})
	B.SetReceiving(false)
	A.Start(t.Context())
	B.Start(t.Context())
	waitPackets(t, B, 10)
	assert.Empty(t, B.Received(), "nothing recorded while not receiving")
	B.SetReceiving(true)
	before := B.RecvStats().Packets
	waitPackets(t, B, before+10)
	assert.NotEmpty(t, B.Received())
}

func TestStreamStopsOnContextCancel(t *testing.T) {
	a, b := pair(t, Config{}, Config{})
	st := NewStream(StreamConfig{Session: a})
	ctx, cancel := context.WithCancel(t.Context())
	st.Start(ctx)
	st.Start(ctx) // second Start is a no-op
	ch := reader(t, b)
	next(t, ch) // it is sending

	cancel()
	stopped := make(chan struct{})
	go func() {
		st.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stream goroutines did not stop on ctx cancel")
	}
	// The session stays usable until Close.
	require.NoError(t, a.WriteFrame(frameOf(1), 160, false))
	require.NoError(t, st.Close())
	require.NoError(t, st.Close())
	require.ErrorIs(t, a.WriteFrame(frameOf(1), 160, false), net.ErrClosed)
}

func TestStreamLifecycleEdges(t *testing.T) {
	// Close without Start closes the session; Start after Close does nothing.
	a := newSession(t, Config{})
	st := NewStream(StreamConfig{Session: a, Law: audio.Law(99), Logger: slog.New(slog.DiscardHandler)})
	assert.Equal(t, uint8(0), a.PayloadType(), "invalid law falls back to PCMU")
	require.NoError(t, st.Close())
	st.Start(t.Context())
	assert.ErrorIs(t, st.SendDTMF(t.Context(), DTMFEvent{Digit: '1'}), ErrNotSending)

	// A nil session is inert.
	nilSt := NewStream(StreamConfig{})
	nilSt.Start(t.Context())
	assert.Equal(t, Stats{}, nilSt.RecvStats())
	assert.Empty(t, nilSt.Received())
	require.NoError(t, nilSt.Close())
	assert.Contains(t, nilSt.String(), "nil session")

	b := newSession(t, Config{})
	st2 := NewStream(StreamConfig{Session: b, Law: audio.Alaw, Ptime: 30 * time.Millisecond})
	assert.Equal(t, uint32(240), st2.spf)
	assert.Equal(t, uint8(8), b.PayloadType())
	st2.SetLaw(audio.Ulaw)
	assert.Equal(t, uint8(0), b.PayloadType())
	st2.SetLaw(audio.Law(42))
	assert.Equal(t, uint8(0), b.PayloadType(), "invalid law ignored")
	st2.OnDTMF(nil)
	require.NoError(t, st2.Close())
}
