package recorder

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/wav"
)

const (
	toneA = 1800.0 // 7001
	toneB = 2100.0 // +1555...0
	toneC = 1500.0 // 7100 supervisor
)

var candidates = []float64{toneA, toneB, toneC}

// tsender generates the RTP packets of one party sending a tone.
type tsender struct {
	pt   uint8
	law  audio.Law
	ssrc uint32
	seq  uint16
	ts   uint32
	tone *audio.Tone
	pcm  [maxPacketSamples]int16
}

func newSender(freq float64, ssrc uint32, seq uint16, ts uint32) *tsender {
	return &tsender{pt: 0, law: audio.Ulaw, ssrc: ssrc, seq: seq, ts: ts, tone: audio.NewTone(freq, 0)}
}

// packet returns the next packet of n samples and advances sequence and timestamp.
func (s *tsender) packet(n int) *rtp.Packet {
	s.tone.Read(s.pcm[:n])
	payload := make([]byte, n)
	s.law.Encode(payload, s.pcm[:n])
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: s.pt, SequenceNumber: s.seq,
		Timestamp: s.ts, SSRC: s.ssrc}, Payload: payload}
	s.seq++
	s.ts += uint32(n)
	return p
}

// skip advances the sender's clock as if n samples were sent but lost.
func (s *tsender) skip(n int) { s.seq++; s.ts += uint32(n); s.tone.Read(s.pcm[:n]) }

type event struct {
	at  float64 // ms after start
	ch  int
	pkt *rtp.Packet
}

type sim struct {
	t      *testing.T
	tl     *Timeline
	t0     time.Time
	dir    string
	events []event
}

func newSim(t *testing.T, window time.Duration, perParty bool) *sim {
	dir := t.TempDir()
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	return &sim{t: t, t0: t0, dir: dir,
		tl: NewTimeline(TimelineConfig{Dir: dir, Start: t0, Window: window, PerPartyFiles: perParty})}
}

func (s *sim) at(ms float64) time.Time {
	return s.t0.Add(time.Duration(ms * float64(time.Millisecond)))
}

func (s *sim) addChannel(label string, atMs float64) int {
	ch, err := s.tl.AddChannel(ChannelInfo{Label: label}, s.at(atMs))
	require.NoError(s.t, err)
	s.tl.SetCodecs(ch, map[uint8]string{0: "PCMU", 8: "PCMA", 101: "telephone-event", 13: "CN"})
	return ch
}

func (s *sim) push(atMs float64, ch int, p *rtp.Packet) {
	s.events = append(s.events, event{at: atMs, ch: ch, pkt: p})
}

// stream queues `frames` 20 ms packets of sender on ch, the first arriving at fromMs.
func (s *sim) stream(ch int, snd *tsender, fromMs float64, frames int) {
	for i := range frames {
		s.push(fromMs+float64(i)*20, ch, snd.packet(frameLen))
	}
}

// run delivers queued events in arrival order, advancing the timeline as a 20 ms ticker
// would, up to untilMs.
func (s *sim) run(untilMs float64) {
	sort.SliceStable(s.events, func(i, j int) bool { return s.events[i].at < s.events[j].at })
	tick := 0.0
	for _, e := range s.events {
		for ; tick <= e.at; tick += 20 {
			require.NoError(s.t, s.tl.Advance(s.at(tick)))
		}
		s.tl.Push(e.ch, e.pkt, s.at(e.at))
	}
	for ; tick <= untilMs; tick += 20 {
		require.NoError(s.t, s.tl.Advance(s.at(tick)))
	}
	s.events = nil
}

func (s *sim) finish(atMs float64) *wav.File {
	frames, err := s.tl.Finish(s.at(atMs))
	require.NoError(s.t, err)
	f, err := wav.ReadFile(filepath.Join(s.dir, AudioFile))
	require.NoError(s.t, err)
	require.Equal(s.t, frames, f.Frames)
	return f
}

// classify returns the class of the 20 ms frame starting at ms: 0 silent, a candidate
// frequency, or -1 for anything else.
func classify(samples []int16, ms int) float64 {
	from := ms * 8
	to := from + frameLen
	if to > len(samples) {
		return -2
	}
	seg := audio.Segments(samples[from:to], candidates)
	if len(seg) != 1 {
		return -1
	}
	if seg[0].Silent {
		return 0
	}
	if seg[0].Freq == 0 {
		return -1
	}
	return seg[0].Freq
}

type span struct {
	fromMs, toMs int
	freq         float64 // 0 = silent
}

// expectSpans checks every frame lying inside a span with `tol` ms of slack at both ends.
func expectSpans(t *testing.T, samples []int16, tol int, spans ...span) {
	t.Helper()
	for _, sp := range spans {
		for ms := sp.fromMs + tol; ms+20 <= sp.toMs-tol; ms += 20 {
			got := classify(samples, ms)
			if !assert.Equalf(t, sp.freq, got, "frame at %d ms (span %d-%d)", ms, sp.fromMs, sp.toMs) {
				return
			}
		}
	}
}

func TestTimelineTwoPartiesOwnChannels(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a-leg", 0)
	b := s.addChannel("b-leg", 0)
	s.stream(a, newSender(toneA, 1, 100, 5000), 0, 100)
	s.stream(b, newSender(toneB, 2, 60000, 4294967000), 3, 100) // ts wraps during the call
	s.run(2000)
	f := s.finish(2000)
	require.Equal(t, 2, f.Header.Channels)
	assert.Equal(t, int64(16000), f.Frames)
	expectSpans(t, f.Samples[0], 20, span{0, 2000, toneA})
	expectSpans(t, f.Samples[1], 20, span{3, 2003, toneB})
	snap := s.tl.Snapshot()
	for _, ch := range snap.Channels {
		assert.Equal(t, uint64(100), ch.Stats.Packets)
		assert.Zero(t, ch.Stats.Lost)
		assert.Zero(t, ch.Stats.Late)
		assert.Zero(t, ch.Stats.Reanchors)
		assert.Equal(t, []string{"PCMU"}, ch.Stats.Codecs)
	}
	assert.Empty(t, snap.Pauses)
	assert.InDelta(t, 0.0, snap.Analysis[0].SilenceRatio, 0.01)
	assert.InDelta(t, -13.5, snap.Analysis[0].LevelDBFS, 1.0)
	assert.InDelta(t, 2000, snap.Analysis[0].TalkOverMs, 40)
}

func TestTimelineLossBecomesSilence(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	s.stream(a, snd, 0, 25) // 0..500 ms
	for range 10 {          // 500..700 ms lost
		snd.skip(frameLen)
	}
	s.stream(a, snd, 700, 25) // 700..1200
	s.run(1200)
	f := s.finish(1200)
	expectSpans(t, f.Samples[0], 20, span{0, 500, toneA}, span{500, 700, 0}, span{700, 1200, toneA})
	st := s.tl.Snapshot().Channels[0].Stats
	assert.Equal(t, int64(10), st.Lost)
	assert.Equal(t, uint64(50), st.Packets)
}

func TestTimelineReorderAndDuplicatesFixed(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 7, 65500, 0) // sequence wraps
	var pkts []*rtp.Packet
	for range 100 {
		pkts = append(pkts, snd.packet(frameLen))
	}
	dups := 0
	for i := 0; i < len(pkts); i++ {
		at := float64(i) * 20
		if i%10 == 3 && i+1 < len(pkts) { // swap pairs: the later packet arrives first
			s.push(at, a, pkts[i+1])
			s.push(at+15, a, pkts[i])
			i++
			s.push(float64(i)*20+16, a, pkts[i]) // and a duplicate
			dups++
			continue
		}
		s.push(at, a, pkts[i])
		if i%7 == 0 {
			s.push(at+1, a, pkts[i]) // duplicate
			dups++
		}
	}
	s.run(2000)
	f := s.finish(2000)
	expectSpans(t, f.Samples[0], 0, span{0, 2000, toneA})
	st := s.tl.Snapshot().Channels[0].Stats
	assert.Equal(t, uint64(100), st.Packets)
	assert.Equal(t, uint64(10), st.OutOfOrder)
	assert.Equal(t, uint64(dups), st.Duplicates)
	assert.Zero(t, st.Lost)
	assert.Zero(t, st.Late)
}

func TestTimelineLatePacketDropped(t *testing.T) {
	s := newSim(t, 60*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	var pkts []*rtp.Packet
	for range 50 {
		pkts = append(pkts, snd.packet(frameLen))
	}
	for i, p := range pkts {
		if i == 20 {
			s.push(600, a, p) // 200 ms late: beyond the window
			continue
		}
		s.push(float64(i)*20, a, p)
	}
	s.run(1000)
	f := s.finish(1000)
	st := s.tl.Snapshot().Channels[0].Stats
	assert.Equal(t, uint64(1), st.Late)
	expectSpans(t, f.Samples[0], 0, span{400, 420, 0}, span{0, 400, toneA}, span{420, 1000, toneA})
}

func TestTimelineDTXGapAndComfortNoise(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	s.stream(a, snd, 0, 25)
	cn := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 13, SequenceNumber: snd.seq, Timestamp: snd.ts, SSRC: 1},
		Payload: []byte{40}}
	s.push(500, a, cn)
	snd.seq++
	snd.ts += 8000 * 3 / 10 // DTX: the timestamp jumps 300 ms, the sequence does not
	s.stream(a, snd, 800, 10)
	s.run(1000)
	f := s.finish(1000)
	expectSpans(t, f.Samples[0], 20, span{0, 500, toneA}, span{500, 800, 0}, span{800, 1000, toneA})
	st := s.tl.Snapshot().Channels[0].Stats
	assert.Zero(t, st.Lost)
	assert.Zero(t, st.Reanchors)
}

func TestTimelineSSRCChangeReanchors(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	s.stream(a, newSender(toneA, 1, 10, 1000), 0, 25)
	// A new SSRC with an unrelated timestamp base and sequence after 100 ms of nothing,
	// now carrying another tone.
	s.stream(a, newSender(toneB, 99, 40000, 3_000_000_000), 600, 20)
	s.run(1000)
	f := s.finish(1000)
	expectSpans(t, f.Samples[0], 20, span{0, 500, toneA}, span{500, 600, 0}, span{600, 1000, toneB})
	st := s.tl.Snapshot().Channels[0].Stats
	assert.Equal(t, []uint32{1, 99}, st.SSRCs)
	assert.Equal(t, uint64(1), st.Reanchors)
	assert.Zero(t, st.Lost)
}

func TestTimelineTimestampJumpSameSSRC(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	s.stream(a, snd, 0, 25)
	snd.ts += 8000 * 60 // the SRC's clock jumps a minute ahead
	s.stream(a, snd, 500, 25)
	s.run(1000)
	f := s.finish(1000)
	expectSpans(t, f.Samples[0], 0, span{0, 1000, toneA})
	assert.Equal(t, uint64(1), s.tl.Snapshot().Channels[0].Stats.Reanchors)
}

func TestTimelineCodecChangeKeepsContinuity(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	s.stream(a, snd, 0, 25)
	snd.pt, snd.law = 8, audio.Alaw
	s.stream(a, snd, 500, 25)
	s.run(1000)
	f := s.finish(1000)
	expectSpans(t, f.Samples[0], 0, span{0, 1000, toneA})
	st := s.tl.Snapshot().Channels[0].Stats
	assert.Zero(t, st.Reanchors)
	assert.Equal(t, []string{"PCMU", "PCMA"}, st.Codecs)
}

func TestTimelinePauseIsSilence(t *testing.T) {
	for _, tsRuns := range []bool{false, true} {
		name := "timestamps frozen during pause"
		if tsRuns {
			name = "timestamps keep running during pause"
		}
		t.Run(name, func(t *testing.T) {
			s := newSim(t, 80*time.Millisecond, false)
			a := s.addChannel("a", 0)
			b := s.addChannel("b", 0)
			sa, sb := newSender(toneA, 1, 0, 0), newSender(toneB, 2, 0, 0)
			s.stream(a, sa, 0, 50)
			s.stream(b, sb, 0, 50)
			s.run(1000)
			s.tl.SetActive(a, false, s.at(1000))
			s.tl.SetActive(b, false, s.at(1000))
			assert.True(t, s.tl.Paused())
			// A misbehaving SRC keeps sending one stream while inactive: must not be recorded.
			leak := newSender(toneC, 1, 50, 8000)
			s.stream(a, leak, 1100, 5)
			s.run(1500)
			if tsRuns {
				for range 25 {
					sa.skip(frameLen)
					sb.skip(frameLen)
				}
			}
			s.tl.SetActive(a, true, s.at(1500))
			s.tl.SetActive(b, true, s.at(1500))
			s.stream(a, sa, 1500, 50)
			s.stream(b, sb, 1500, 50)
			s.run(2500)
			f := s.finish(2500)
			for ch, tone := range []float64{toneA, toneB} {
				expectSpans(t, f.Samples[ch], 40, span{0, 1000, tone}, span{1000, 1500, 0}, span{1500, 2500, tone})
			}
			snap := s.tl.Snapshot()
			require.Len(t, snap.Pauses, 1)
			assert.Equal(t, Span{StartMs: 1000, EndMs: 1500}, snap.Pauses[0])
			assert.Equal(t, uint64(5), snap.Channels[a].Stats.Dropped)
		})
	}
}

func TestTimelineSupervisorJoinsAsNewChannel(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, true)
	a := s.addChannel("a", 0)
	b := s.addChannel("b", 0)
	sa, sb := newSender(toneA, 1, 0, 0), newSender(toneB, 2, 0, 0)
	s.stream(a, sa, 0, 50)
	s.stream(b, sb, 0, 50)
	s.run(1000)
	require.NoError(t, s.tl.Flush())
	c := s.addChannel("supervisor", 1000)
	s.stream(a, sa, 1000, 50)
	s.stream(b, sb, 1000, 50)
	s.stream(c, newSender(toneC, 3, 0, 0), 1000, 50)
	s.run(2000)
	_, err := os.Stat(filepath.Join(s.dir, "audio.seg1.wav"))
	require.NoError(t, err, "second segment while live")
	f := s.finish(2000)
	require.Equal(t, 3, f.Header.Channels)
	expectSpans(t, f.Samples[0], 20, span{0, 2000, toneA})
	expectSpans(t, f.Samples[1], 20, span{0, 2000, toneB})
	expectSpans(t, f.Samples[2], 20, span{0, 1000, 0}, span{1000, 2000, toneC})
	_, err = os.Stat(filepath.Join(s.dir, "audio.seg1.wav"))
	require.True(t, os.IsNotExist(err), "segments merged away")
	snap := s.tl.Snapshot()
	assert.InDelta(t, 920, snap.Channels[2].JoinedMs, 20)
	// Per-party files are aligned with audio.wav.
	require.Len(t, snap.PartyFiles, 3)
	for ch, name := range snap.PartyFiles {
		pf, err := wav.ReadFile(filepath.Join(s.dir, name))
		require.NoError(t, err)
		require.Equal(t, 1, pf.Header.Channels)
		require.Equal(t, f.Frames, pf.Frames)
		assert.Equal(t, f.Samples[ch], pf.Samples[0])
	}
}

func TestTimelineFlushLeavesValidFile(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	s.stream(a, newSender(toneA, 1, 0, 0), 0, 50)
	s.run(1000)
	require.NoError(t, s.tl.Flush())
	f, err := wav.ReadFile(filepath.Join(s.dir, AudioFile))
	require.NoError(t, err)
	assert.Equal(t, s.tl.Frames(), f.Frames)
	assert.InDelta(t, 920*8, f.Frames, 160)
	_, err = s.tl.Finish(s.at(1000))
	require.NoError(t, err)
}

func TestTimelineDropsGarbage(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	s.stream(a, snd, 0, 10)
	s.push(10, a, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}, Payload: make([]byte, 160)})
	s.push(11, a, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1, SequenceNumber: 3}, Payload: make([]byte, 5000)})
	s.push(12, a, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 127, SSRC: 1}})
	s.push(13, 7, snd.packet(frameLen))  // no such channel
	s.push(14, -1, snd.packet(frameLen)) // no such channel
	s.run(300)
	f := s.finish(300)
	expectSpans(t, f.Samples[0], 20, span{0, 200, toneA})
	assert.Equal(t, uint64(3), s.tl.Snapshot().Channels[0].Stats.Dropped)
}

func TestTimelineClockDriftNoLateNoOverlap(t *testing.T) {
	for _, ppm := range []float64{-5000, 5000} { // 0.5% slow and fast sender clocks
		s := newSim(t, 80*time.Millisecond, false)
		a := s.addChannel("a", 0)
		snd := newSender(toneA, 1, 0, 0)
		period := 20 * (1 + ppm/1e6)
		n := 1000 // 20 s
		s.stream(a, snd, 0, 0)
		for i := range n {
			s.push(float64(i)*period, a, snd.packet(frameLen))
		}
		end := float64(n) * period
		s.run(end)
		f := s.finish(end)
		st := s.tl.Snapshot().Channels[0].Stats
		assert.Zero(t, st.Late, "ppm %v", ppm)
		assert.NotZero(t, st.Reanchors, "ppm %v", ppm)
		// The timeline follows the wall clock: the file lasts as long as the call.
		assert.InDelta(t, end*8, float64(f.Frames), 8)
		silent := 0
		for ms := 0; ms+20 <= int(end)-40; ms += 20 {
			if classify(f.Samples[0], ms) == 0 {
				silent++
			}
		}
		assert.LessOrEqual(t, silent, 10, "ppm %v: drift corrections must be small", ppm)
	}
}

func TestTimelineDTMF(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	s.stream(a, snd, 0, 10)
	evTS := snd.ts
	for i, d := range []uint16{160, 320, 480, 640, 640, 640} { // digit 5, three end packets
		p := make([]byte, 4)
		p[0] = 5
		if i >= 3 {
			p[1] = 0x80
		}
		binary.BigEndian.PutUint16(p[2:], d)
		s.push(200+float64(i)*20, a, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101,
			SequenceNumber: snd.seq, Timestamp: evTS, SSRC: 1, Marker: i == 0}, Payload: p})
		snd.seq++
	}
	s.run(400)
	s.finish(400)
	an := s.tl.Snapshot().Analysis[0]
	require.Len(t, an.DTMF, 1)
	assert.Equal(t, DTMFEvent{Digit: "5", AtMs: 200, DurationMs: 80}, an.DTMF[0])
}

func TestTimelinePushAllocatesNothing(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	a := s.addChannel("a", 0)
	snd := newSender(toneA, 1, 0, 0)
	pkt := snd.packet(frameLen)
	s.tl.Push(a, pkt, s.at(0))
	require.NoError(t, s.tl.Advance(s.at(100)))
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		i++
		pkt.SequenceNumber++
		pkt.Timestamp += frameLen
		at := s.at(float64(i) * 20)
		s.tl.Push(a, pkt, at)
		if i%5 == 0 {
			_ = s.tl.Advance(at)
		}
	})
	assert.Zero(t, allocs)
	_, err := s.tl.Finish(s.at(float64(i) * 20))
	require.NoError(t, err)
}

func TestTimelineTooManyChannels(t *testing.T) {
	s := newSim(t, 80*time.Millisecond, false)
	for i := range MaxChannels {
		_, err := s.tl.AddChannel(ChannelInfo{}, s.at(float64(i)))
		require.NoError(t, err)
	}
	_, err := s.tl.AddChannel(ChannelInfo{}, s.at(20))
	require.ErrorIs(t, err, ErrTooManyChannels)
	_, err = s.tl.Finish(s.at(40))
	require.NoError(t, err)
	_, err = s.tl.AddChannel(ChannelInfo{}, s.at(60))
	require.ErrorIs(t, err, ErrFinished)
}

func BenchmarkTimelinePush(b *testing.B) {
	tl := NewTimeline(TimelineConfig{Dir: b.TempDir(), Start: time.Unix(0, 0)})
	ch, err := tl.AddChannel(ChannelInfo{}, time.Unix(0, 0))
	require.NoError(b, err)
	tl.SetCodecs(ch, map[uint8]string{0: "PCMU"})
	snd := newSender(toneA, 1, 0, 0)
	pkt := snd.packet(frameLen)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pkt.SequenceNumber++
		pkt.Timestamp += frameLen
		at := time.Unix(0, 0).Add(time.Duration(i) * 20 * time.Millisecond)
		tl.Push(ch, pkt, at)
		if i%5 == 0 {
			_ = tl.Advance(at)
		}
	}
	b.StopTimer()
	_, _ = tl.Finish(time.Unix(0, 0).Add(time.Duration(b.N) * 20 * time.Millisecond))
}
