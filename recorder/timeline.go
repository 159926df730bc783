package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/arlab/arlab/pkg/audio"
)

// Timeline errors.
var (
	ErrTooManyChannels = errors.New("too many channels")
	ErrFinished        = errors.New("timeline finished")
)

// Timeline geometry, in samples at 8 kHz.
const (
	sampleRate = audio.SampleRate
	frameLen   = audio.FrameSamples // analysis frame, 20 ms
	// ringLen is the per-channel buffer between packet placement and file output. It is a
	// multiple of frameLen so that an analysis frame never wraps inside the ring.
	ringLen = 64 * frameLen // 1.28 s
	// maxAhead: a packet whose timestamp puts it further ahead of its arrival is a clock jump.
	maxAhead = sampleRate / 2
	// maxBehind: an in-order packet this far behind its arrival is a clock jump, not jitter.
	maxBehind = sampleRate
	// maxPacketSamples bounds one payload (200 ms of G.711).
	maxPacketSamples = 1600
	// driftEpoch: every epoch the smallest lag seen decides whether to nudge the anchor.
	driftEpoch = sampleRate
	// MaxChannels is the most channels one recording can have (WAV writer limit).
	MaxChannels = 16
	// MaxJitterWindow bounds Config.JitterWindow so the ring always has room.
	MaxJitterWindow = 400 * time.Millisecond
	maxDTMFEvents   = 1000
)

// pcmWriter is the part of *wav.Writer the timeline needs.
type pcmWriter interface {
	WriteFrames(pcm []int16) error
	Flush() error
	Close() error
}

// writerFactory creates a PCM16 8 kHz WAV file with the given channel count.
type writerFactory func(path string, channels int) (pcmWriter, error)

// TimelineConfig configures a Timeline.
type TimelineConfig struct {
	Dir           string        // directory of the audio files
	Start         time.Time     // wall-clock time of timeline position 0
	Window        time.Duration // jitter window: how long a position stays open for late packets
	PerPartyFiles bool          // also write one mono file per channel
	create        writerFactory // nil: pkg/wav
}

// Timeline turns the RTP packets of a recording's streams into one multi-channel WAV whose
// channels share one clock: the wall clock from Start. Each stream's RTP timestamps are
// anchored to the wall clock at its first packet (and again after an SSRC change, a resume
// from inactive, a codec change that breaks continuity, or a clock jump), so timestamp gaps
// (loss, DTX, hold, pause) become silence and reordering within the jitter window is undone
// by writing every packet at its own position. Duplicates are dropped by sequence number.
//
// Channel layout choice: the channel count of a WAV file is fixed when its first frame is
// written. A channel added after that (a supervisor stream joining) closes the current file
// and continues in a new segment file audio.segN.wav with one more channel, starting at the
// same frame; Finish (or recovery after a crash) concatenates the segments into audio.wav,
// padding the channels that did not exist yet with silence. So a finished recording is
// always one audio.wav with one channel per stream, and a crash never loses flushed audio.
//
// Packets are placed by Push (any goroutine), output is produced by Advance (called
// periodically) up to now minus the window, and files are flushed by Flush, so the data on
// disk is a valid WAV after every Flush. All methods are safe for concurrent use.
type Timeline struct {
	mu      sync.Mutex
	cfg     TimelineConfig
	window  int64
	written int64 // frames output so far
	chans   []*tlChannel
	err     error
	done    bool

	out      pcmWriter
	outChans int
	segments []string // file names, in order
	party    []pcmWriter

	pausedAt int64 // -1 when not paused
	pauses   []Span

	scratch [maxPacketSamples]int16
	inter   []int16 // interleave buffer: frameLen * channels
}

type tlChannel struct {
	ring   []int16
	stream channelStream
	info   ChannelInfo
	an     channelAnalysis
}

// NewTimeline returns a timeline writing into cfg.Dir. No file is created before the first
// frame is output.
func NewTimeline(cfg TimelineConfig) *Timeline {
	if cfg.create == nil {
		cfg.create = createWAV
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultJitterWindow
	}
	if cfg.Window > MaxJitterWindow {
		cfg.Window = MaxJitterWindow
	}
	return &Timeline{cfg: cfg, window: samplesOf(cfg.Window), pausedAt: -1}
}

func samplesOf(d time.Duration) int64 { return int64(d / (time.Second / sampleRate)) }

// posAt is the timeline position of wall-clock time t (negative before Start).
func (t *Timeline) posAt(at time.Time) int64 { return samplesOf(at.Sub(t.cfg.Start)) }

// AddChannel adds a channel for a stream and returns its index. The channel starts active
// with no payload types: call SetCodecs.
func (t *Timeline) AddChannel(info ChannelInfo, now time.Time) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return 0, ErrFinished
	}
	if len(t.chans) >= MaxChannels {
		return 0, fmt.Errorf("%w: at most %d", ErrTooManyChannels, MaxChannels)
	}
	// Output what is due first so the join lands at the right frame.
	if err := t.emitTo(t.posAt(now) - t.window); err != nil {
		return 0, err
	}
	info.Index = len(t.chans)
	info.JoinedMs = t.written / (sampleRate / 1000)
	c := &tlChannel{ring: make([]int16, ringLen), info: info}
	c.stream.active = true
	t.chans = append(t.chans, c)
	if t.out != nil {
		// The file's channel count is fixed: continue in a new segment.
		if err := t.closeOut(); err != nil {
			return 0, err
		}
	}
	if t.cfg.PerPartyFiles {
		if err := t.openParty(c); err != nil {
			return 0, err
		}
	}
	return info.Index, nil
}

// SetCodecs sets the payload types the channel's stream may carry (from the SDP rtpmap;
// names as in SDP: PCMU, PCMA, telephone-event, CN). Other payload types are dropped.
func (t *Timeline) SetCodecs(ch int, pts map[uint8]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch < 0 || ch >= len(t.chans) {
		return
	}
	s := &t.chans[ch].stream
	s.codecs = [128]codecKind{}
	for pt, name := range pts {
		if pt >= 128 {
			continue
		}
		switch strings.ToUpper(name) {
		case "PCMU":
			s.codecs[pt] = kindPCMU
		case "PCMA":
			s.codecs[pt] = kindPCMA
		case "TELEPHONE-EVENT":
			s.codecs[pt] = kindEvent
		case "CN":
			s.codecs[pt] = kindCN
		}
	}
}

// SetActive pauses (false) or resumes (true) a channel's stream. While every channel is
// inactive the recording is paused and the span is recorded. Packets received for an
// inactive stream are dropped (a=inactive means nothing may be recorded). A resumed stream
// re-anchors to the wall clock on its next packet.
func (t *Timeline) SetActive(ch int, active bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch < 0 || ch >= len(t.chans) || t.done {
		return
	}
	s := &t.chans[ch].stream
	if s.active == active {
		return
	}
	s.active = active
	if active && s.anchored {
		// The SRC may or may not have advanced its timestamps while paused: the audio after
		// a resume belongs where it arrives.
		s.resumed = true
	}
	t.updatePause(t.posAt(now))
}

func (t *Timeline) updatePause(pos int64) {
	if pos < 0 {
		pos = 0
	}
	all := len(t.chans) > 0
	for _, c := range t.chans {
		if c.stream.active {
			all = false
			break
		}
	}
	switch {
	case all && t.pausedAt < 0:
		t.pausedAt = pos
	case !all && t.pausedAt >= 0:
		t.pauses = append(t.pauses, Span{StartMs: t.pausedAt / 8, EndMs: pos / 8})
		t.pausedAt = -1
	}
}

// Paused reports whether every channel is inactive.
func (t *Timeline) Paused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pausedAt >= 0
}

// Channels returns the number of channels.
func (t *Timeline) Channels() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.chans)
}

// Push places one received packet of channel ch on the timeline. It never allocates for
// audio packets. pkt.Payload is not retained.
func (t *Timeline) Push(ch int, pkt *rtp.Packet, arrival time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || ch < 0 || ch >= len(t.chans) {
		return
	}
	c := t.chans[ch]
	s := &c.stream
	if !s.active {
		s.stats.Dropped++
		return
	}
	h := &pkt.Header
	kind := kindUnknown
	if h.PayloadType < 128 {
		kind = s.codecs[h.PayloadType]
	}
	if kind == kindUnknown || len(pkt.Payload) > maxPacketSamples {
		s.stats.Dropped++
		return
	}
	s.noteSSRC(h)
	switch s.seq.update(h.SequenceNumber) {
	case seqDuplicate:
		s.stats.Duplicates++
		return
	case seqReordered:
		s.stats.OutOfOrder++
	}
	inOrder := s.seq.maxSeq == h.SequenceNumber
	s.stats.Packets++
	s.stats.Bytes += uint64(len(pkt.Payload))
	arrivalPos := t.posAt(arrival)
	s.updateJitter(h.Timestamp, arrivalPos)

	if (kind == kindPCMU || kind == kindPCMA) && (!s.havePT || h.PayloadType != s.lastPT) {
		if s.havePT && s.anchored {
			s.reanchor = true // codec change: keep the anchor only if still continuous
		}
		s.lastPT, s.havePT = h.PayloadType, true
		t.noteCodec(s, kind)
	}
	pos := t.place(s, h.Timestamp, arrivalPos, inOrder)

	switch kind {
	case kindEvent:
		t.dtmf(c, h.Timestamp, pos, pkt.Payload)
		return
	case kindCN:
		return
	}
	n := int64(len(pkt.Payload))
	if pos+n <= t.written {
		s.stats.Late++
		return
	}
	skip := int64(0)
	if pos < t.written {
		skip = t.written - pos
	}
	if over := pos + n - (t.written + ringLen); over > 0 {
		// Only reachable when Advance has not run for a long time: output early rather
		// than lose the packet.
		if err := t.emitTo(t.written + over); err != nil {
			return
		}
	}
	src := pkt.Payload[skip:]
	dec := t.scratch[:len(src)]
	if kind == kindPCMU {
		audio.DecodeUlaw(dec, src)
	} else {
		audio.DecodeAlaw(dec, src)
	}
	at := int((pos + skip) % ringLen)
	k := copy(c.ring[at:], dec)
	copy(c.ring, dec[k:])
}

// place maps an RTP timestamp to a timeline position, anchoring or re-anchoring the stream
// to the wall clock when needed and correcting slow drift between the sender's clock and ours.
func (t *Timeline) place(s *channelStream, ts uint32, arrivalPos int64, inOrder bool) int64 {
	switch {
	case !s.anchored:
		s.anchor(ts, arrivalPos)
		s.resetDrift(arrivalPos)
		return arrivalPos
	case s.resumed:
		s.anchor(ts, arrivalPos)
		s.resetDrift(arrivalPos)
		return arrivalPos
	case s.reanchor:
		cand := s.offset + s.extTS(ts)
		if d := cand - arrivalPos; d > t.window/4 || d < -t.window/4 {
			s.anchor(ts, arrivalPos)
			s.stats.Reanchors++
			s.resetDrift(arrivalPos)
			return arrivalPos
		}
		s.reanchor = false
		return cand
	}
	pos := s.offset + s.extTS(ts)
	if !inOrder {
		return pos
	}
	lag := arrivalPos - pos
	if lag > maxBehind || lag < -maxAhead {
		// A timestamp jump (SRC restarted its clock without a new SSRC, or a long hold
		// with a frozen timestamp): the packet belongs at its arrival.
		s.anchor(ts, arrivalPos)
		s.stats.Reanchors++
		s.resetDrift(arrivalPos)
		return arrivalPos
	}
	if lag < s.minLag {
		s.minLag = lag
	}
	if arrivalPos-s.epochStart >= driftEpoch {
		// The least-delayed packet of the last second shows the clock offset without the
		// jitter; nudge the anchor when it wandered more than half a window.
		if s.minLag > t.window/2 || s.minLag < -t.window/2 {
			s.offset += s.minLag
			pos += s.minLag
			s.stats.Reanchors++
		}
		s.resetDrift(arrivalPos)
	}
	return pos
}

func (t *Timeline) noteCodec(s *channelStream, kind codecKind) {
	name := "PCMU"
	if kind == kindPCMA {
		name = "PCMA"
	}
	for _, c := range s.stats.Codecs {
		if c == name {
			return
		}
	}
	s.stats.Codecs = append(s.stats.Codecs, name)
}

func (t *Timeline) dtmf(c *tlChannel, ts uint32, pos int64, p []byte) {
	if len(p) < 4 {
		return
	}
	s := &c.stream
	digit := dtmfDigit(p[0])
	end := p[1]&0x80 != 0
	dur := int64(binary.BigEndian.Uint16(p[2:4])) / 8
	if s.dtmfSeen && s.dtmfTS == ts {
		if n := len(c.an.dtmf); n > 0 && dur > c.an.dtmf[n-1].DurationMs {
			c.an.dtmf[n-1].DurationMs = dur
		}
		s.dtmfEnded = s.dtmfEnded || end
		return
	}
	s.dtmfSeen, s.dtmfTS, s.dtmfEnded = true, ts, end
	if digit == "" || len(c.an.dtmf) >= maxDTMFEvents {
		return
	}
	if pos < 0 {
		pos = 0
	}
	c.an.dtmf = append(c.an.dtmf, DTMFEvent{Digit: digit, AtMs: pos / 8, DurationMs: dur})
}

// Advance outputs every position older than now minus the jitter window.
func (t *Timeline) Advance(now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return t.err
	}
	return t.emitTo(t.posAt(now) - t.window)
}

// Flush writes buffered audio and patches the WAV headers so the files on disk are valid.
func (t *Timeline) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.err != nil {
		return t.err
	}
	return t.flushLocked()
}

func (t *Timeline) flushLocked() error {
	if t.out != nil {
		if err := t.out.Flush(); err != nil {
			t.err = fmt.Errorf("flush audio: %w", err)
			return t.err
		}
	}
	for _, p := range t.party {
		if p != nil {
			if err := p.Flush(); err != nil {
				t.err = fmt.Errorf("flush party file: %w", err)
				return t.err
			}
		}
	}
	return nil
}

// Frames returns the number of frames output so far.
func (t *Timeline) Frames() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.written
}

// Finish outputs everything up to now (the window no longer matters: nothing more will
// arrive), closes the files and merges segments into audio.wav. It returns the final frame
// count. Calling it again returns the same result.
func (t *Timeline) Finish(now time.Time) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return t.written, t.err
	}
	end := t.posAt(now)
	if t.err == nil && len(t.chans) > 0 {
		_ = t.emitTo(end)
	}
	if t.pausedAt >= 0 {
		t.pauses = append(t.pauses, Span{StartMs: t.pausedAt / 8, EndMs: t.written / 8})
		t.pausedAt = -1
	}
	t.done = true
	if err := t.closeOut(); err != nil && t.err == nil {
		t.err = err
	}
	for i, p := range t.party {
		if p != nil {
			if err := p.Close(); err != nil && t.err == nil {
				t.err = fmt.Errorf("close party file: %w", err)
			}
			t.party[i] = nil
		}
	}
	if t.err == nil && len(t.segments) > 1 {
		if err := mergeSegments(t.cfg.Dir, t.segments, len(t.chans)); err != nil {
			t.err = err
		} else {
			t.segments = t.segments[:1]
		}
	}
	return t.written, t.err
}

// Err returns the first output error, if any.
func (t *Timeline) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// TimelineSnapshot is the state of a timeline for recording.json and the live API.
type TimelineSnapshot struct {
	Frames     int64
	Channels   []ChannelInfo
	Pauses     []Span
	Analysis   []Analysis
	Segments   []string
	PartyFiles []string
	Paused     bool
}

// Snapshot copies the timeline's state.
func (t *Timeline) Snapshot() TimelineSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	snap := TimelineSnapshot{Frames: t.written, Paused: t.pausedAt >= 0,
		Pauses: append([]Span(nil), t.pauses...), Segments: append([]string(nil), t.segments...)}
	if t.pausedAt >= 0 {
		snap.Pauses = append(snap.Pauses, Span{StartMs: t.pausedAt / 8})
	}
	for i, c := range t.chans {
		info := c.info
		info.Stats = c.stream.snapshot()
		info.Stats.SRTP = c.info.Stats.SRTP
		snap.Channels = append(snap.Channels, info)
		snap.Analysis = append(snap.Analysis, c.an.result(i))
		if t.cfg.PerPartyFiles {
			snap.PartyFiles = append(snap.PartyFiles, partyFileName(i, c.info.Label))
		}
	}
	return snap
}

// SetChannelInfo updates the descriptive fields of a channel (participant data from a
// metadata update, SRTP use); index, join time and stats are kept.
func (t *Timeline) SetChannelInfo(ch int, info ChannelInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch < 0 || ch >= len(t.chans) {
		return
	}
	old := t.chans[ch].info
	info.Index, info.JoinedMs = old.Index, old.JoinedMs
	t.chans[ch].info = info
}

// emitTo outputs frames [written, target). Called with mu held.
func (t *Timeline) emitTo(target int64) error {
	if t.err != nil {
		return t.err
	}
	if len(t.chans) == 0 || target <= t.written {
		return nil
	}
	if t.out == nil {
		if err := t.openOut(); err != nil {
			t.err = err
			return err
		}
	}
	nch := len(t.chans)
	for t.written < target {
		end := (t.written/frameLen + 1) * frameLen
		if end > target {
			end = target
		}
		n := int(end - t.written)
		at := int(t.written % ringLen)
		buf := t.inter[:n*nch]
		for ci, c := range t.chans {
			seg := c.ring[at : at+n]
			for i, v := range seg {
				buf[i*nch+ci] = v
			}
			c.an.add(seg)
			if t.cfg.PerPartyFiles && t.party[ci] != nil {
				if err := t.party[ci].WriteFrames(seg); err != nil {
					t.err = fmt.Errorf("write party file: %w", err)
					return t.err
				}
			}
		}
		if err := t.out.WriteFrames(buf); err != nil {
			t.err = fmt.Errorf("write audio: %w", err)
			return t.err
		}
		for _, c := range t.chans {
			clear(c.ring[at : at+n])
		}
		t.written = end
		if end%frameLen == 0 {
			t.endFrame()
		}
	}
	return nil
}

// endFrame closes one 20 ms analysis frame on every channel and counts talk-over.
func (t *Timeline) endFrame() {
	active := 0
	for _, c := range t.chans {
		if c.an.endFrame() {
			active++
		}
	}
	if active >= 2 {
		for _, c := range t.chans {
			if c.an.lastActive {
				c.an.talkOverFrames++
			}
		}
	}
}

func (t *Timeline) openOut() error {
	name := AudioFile
	if len(t.segments) > 0 {
		name = fmt.Sprintf("audio.seg%d.wav", len(t.segments))
	}
	w, err := t.cfg.create(filepath.Join(t.cfg.Dir, name), len(t.chans))
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	t.out = w
	t.outChans = len(t.chans)
	t.segments = append(t.segments, name)
	t.inter = make([]int16, frameLen*len(t.chans))
	return nil
}

func (t *Timeline) closeOut() error {
	if t.out == nil {
		return nil
	}
	err := t.out.Close()
	t.out = nil
	if err != nil {
		return fmt.Errorf("close audio: %w", err)
	}
	return nil
}

func partyFileName(ch int, label string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, label)
	if len(clean) > 32 {
		clean = clean[:32]
	}
	if clean == "" {
		return fmt.Sprintf("party%d.wav", ch)
	}
	return fmt.Sprintf("party%d-%s.wav", ch, clean)
}

// openParty creates the mono file of a channel, padded with silence up to the current
// frame so every party file is aligned with audio.wav.
func (t *Timeline) openParty(c *tlChannel) error {
	name := partyFileName(c.info.Index, c.info.Label)
	w, err := t.cfg.create(filepath.Join(t.cfg.Dir, name), 1)
	if err != nil {
		t.err = fmt.Errorf("create %s: %w", name, err)
		return t.err
	}
	var zero [frameLen]int16
	for left := t.written; left > 0; {
		n := min(left, frameLen)
		if err := w.WriteFrames(zero[:n]); err != nil {
			_ = w.Close()
			t.err = fmt.Errorf("pad %s: %w", name, err)
			return t.err
		}
		left -= n
	}
	for len(t.party) <= c.info.Index {
		t.party = append(t.party, nil)
	}
	t.party[c.info.Index] = w
	return nil
}

// channelAnalysis accumulates the live analysis of one channel over 20 ms frames.
type channelAnalysis struct {
	frameSumSq float64
	frameN     int
	lastActive bool

	frames, silent int64
	activeSumSq    float64
	activeN        int64
	peak           int32
	talkOverFrames int64
	dtmf           []DTMFEvent
}

// silenceMeanSq is the mean-square threshold below which a frame is silent
// (audio.SilenceThresholdDBFS as a fraction of full scale, squared).
var silenceMeanSq = math.Pow(10, audio.SilenceThresholdDBFS/10) * 32768 * 32768

func (a *channelAnalysis) add(s []int16) {
	for _, v := range s {
		f := float64(v)
		a.frameSumSq += f * f
		x := int32(v)
		if x < 0 {
			x = -x
		}
		if x > a.peak {
			a.peak = x
		}
	}
	a.frameN += len(s)
}

// endFrame classifies the frame; true when it was not silent.
func (a *channelAnalysis) endFrame() bool {
	if a.frameN == 0 {
		a.lastActive = false
		return false
	}
	ms := a.frameSumSq / float64(a.frameN)
	a.frames++
	a.lastActive = ms >= silenceMeanSq
	if a.lastActive {
		a.activeSumSq += a.frameSumSq
		a.activeN += int64(a.frameN)
	} else {
		a.silent++
	}
	a.frameSumSq, a.frameN = 0, 0
	return a.lastActive
}

func dbfs(meanSq float64) float64 {
	if meanSq <= 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(meanSq/(32768*32768))
}

// result converts the accumulators; -120 dBFS stands for digital silence (JSON has no -Inf).
func (a *channelAnalysis) result(ch int) Analysis {
	r := Analysis{Channel: ch, LevelDBFS: -120, PeakDBFS: -120, TalkOverMs: a.talkOverFrames * 20,
		DTMF: append([]DTMFEvent(nil), a.dtmf...)}
	if a.frames > 0 {
		r.SilenceRatio = float64(a.silent) / float64(a.frames)
	}
	if a.activeN > 0 {
		r.LevelDBFS = math.Round(dbfs(a.activeSumSq/float64(a.activeN))*10) / 10
	}
	if a.peak > 0 {
		r.PeakDBFS = math.Round(20*math.Log10(float64(a.peak)/32768)*10) / 10
	}
	return r
}
