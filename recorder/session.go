package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/media"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
)

// session is one recording session (one SIP dialog with an SRC) and its recording.
//
// Concurrency: sipgo runs every request on its own goroutine, so the ACK, re-INVITEs,
// UPDATEs and the BYE of one dialog race. dialogMu serialises the handling of in-dialog
// requests; re-INVITE/UPDATE also wait until the initial INVITE was acknowledged (or answer
// 491). mu guards the session state and is never held across network waits.
type session struct {
	r         *Recorder
	log       *slog.Logger
	callID    string
	transport string // "udp", "tcp", "tls": where the INVITE came in
	ds        *sipgo.DialogServerSession
	genesys   *genesysContext

	dialogMu    sync.Mutex
	confirmed   chan struct{}
	confirmOnce sync.Once

	mu      sync.Mutex
	rec     *Recording
	meta    *siprec.Metadata
	metaN   int
	tl      *Timeline
	streams []*ingestStream // per offered m-line; nil = refused
	answer  *sdp.Session
	ended   bool
	// pendingAck is closed by the ACK of the last re-INVITE 2xx (UDP retransmission stop).
	pendingAck     chan struct{}
	pendingAckCSeq uint32
}

func (s *session) confirm() { s.confirmOnce.Do(func() { close(s.confirmed) }) }

func (s *session) waitConfirmed(d time.Duration) bool {
	select {
	case <-s.confirmed:
		return true
	case <-time.After(d):
		return false
	}
}

// setupMedia answers every m-line of the initial offer: audio lines we can record get a
// socket, a timeline channel and an a=recvonly answer; the rest are refused with port 0.
// It returns an error (488 or 503) when nothing can be recorded.
func (s *session) setupMedia(offer *sdp.Session, now time.Time) error {
	var firstErr error
	var answers []sdp.Media
	for i, m := range offer.Media {
		st, ans, err := s.openStream(i, m, now)
		if err != nil {
			if errors.Is(err, ErrNoPorts) || errors.Is(err, ErrTooManyChannels) {
				s.stopStreams()
				return statusErr(503, "Service Unavailable (no RTP port free)", err)
			}
			if firstErr == nil {
				firstErr = err
			}
			s.rec.Warnings = append(s.rec.Warnings, fmt.Sprintf("m-line %d refused: %v", i, err))
		}
		s.streams = append(s.streams, st)
		answers = append(answers, ans)
	}
	accepted := 0
	for _, st := range s.streams {
		if st != nil {
			accepted++
		}
	}
	if accepted == 0 {
		if firstErr == nil {
			firstErr = sdp.ErrNoMedia
		}
		return statusErr(488, reasonForSDP(firstErr), firstErr)
	}
	s.answer = &sdp.Session{
		Origin: sdp.Origin{Username: "arlab-srs", SessionID: uint64(now.UnixNano()), SessionVersion: 1, Addr: s.r.advertise},
		Name:   "arlab recorder", Addr: s.r.advertise, Media: answers,
	}
	return nil
}

// openStream accepts one offered m-line: it checks the offer can be answered, binds a port,
// creates the media session (with SRTP keys from the offer) and the timeline channel.
func (s *session) openStream(i int, m sdp.Media, now time.Time) (*ingestStream, sdp.Media, error) {
	if m.Type != "audio" || m.Port == 0 {
		return nil, refusedMedia(m), fmt.Errorf("%w: %s m-line with port %d", sdp.ErrNoMedia, m.Type, m.Port)
	}
	// Validate before binding anything.
	if _, err := sdp.AnswerMedia(m, s.r.answerOptions(9)); err != nil {
		return nil, refusedMedia(m), err
	}
	conn, err := s.r.ports.open()
	if err != nil {
		return nil, refusedMedia(m), err
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ans, err := sdp.AnswerMedia(m, s.r.answerOptions(int(port)))
	if err != nil {
		conn.Close()
		s.r.ports.release(int(port))
		return nil, refusedMedia(m), err
	}
	recv, err := recvKeys(m, ans)
	if err != nil {
		conn.Close()
		s.r.ports.release(int(port))
		return nil, refusedMedia(m), err
	}
	ms, err := media.NewSession(media.Config{Conn: conn, ClockRate: sampleRate, SRTPRecv: recv,
		Logger: s.log, MaxPacket: maxDatagram})
	if err != nil {
		conn.Close()
		s.r.ports.release(int(port))
		return nil, refusedMedia(m), err
	}
	label := m.Label
	if s.genesys != nil && label == "" {
		label = genesysLabel(*s.genesys, i)
	}
	info := ChannelInfo{Label: label}
	info.Stats.SRTP = recv != nil
	ch, err := s.tl.AddChannel(info, now)
	if err != nil {
		ms.Close()
		s.r.ports.release(int(port))
		return nil, refusedMedia(m), err
	}
	s.tl.SetCodecs(ch, codecMap(ans))
	s.tl.SetActive(ch, m.Direction.Sends(), now)
	st := &ingestStream{mline: i, label: label, ch: ch, conn: conn, ms: ms, port: int(port), srtp: recv != nil,
		offer: m, answer: ans, done: make(chan struct{})}
	return st, ans, nil
}

// recvKeys returns the SRTP keys the SRC encrypts with (its offered crypto with the tag we
// chose), nil for plain RTP.
func recvKeys(offer, answer sdp.Media) (*media.SRTPKeys, error) {
	if len(answer.Crypto) == 0 {
		return nil, nil
	}
	c, ok := offer.CryptoByTag(answer.Crypto[0].Tag)
	if !ok {
		return nil, fmt.Errorf("%w: answered crypto tag %d not in the offer", sdp.ErrBadCrypto, answer.Crypto[0].Tag)
	}
	if hasMKI(c.Params) {
		// An MKI travels in every packet; pkg/media does not implement it.
		return nil, fmt.Errorf("%w: crypto tag %d uses an MKI, which is not supported", sdp.ErrBadCrypto, c.Tag)
	}
	k := &media.SRTPKeys{Suite: c.Suite, Key: append([]byte(nil), c.Key...)}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", sdp.ErrBadCrypto, err)
	}
	return k, nil
}

// startStreams starts the read loops of streams not yet running.
func (s *session) startStreams(streams []*ingestStream) {
	for _, st := range streams {
		if st != nil {
			st.start(s.tl)
		}
	}
}

// stopStreams closes every stream socket and waits for the read loops (used on failed setup
// and on finish).
func (s *session) stopStreams() {
	until := time.Now().Add(drainTime)
	for _, st := range s.streams {
		if st != nil {
			st.drain(until)
		}
	}
	for _, st := range s.streams {
		if st == nil {
			continue
		}
		st.stop(s.r.ports)
	}
}

// applyOffer answers a re-INVITE/UPDATE offer: existing m-lines keep their port and channel
// (direction changes pause or resume them, codecs and SRTP keys may change), new m-lines (a
// supervisor joining) become new channels. It returns the answer and the streams to start.
// Called with mu held.
func (s *session) applyOffer(offer *sdp.Session, now time.Time) (*sdp.Session, []*ingestStream, error) {
	answers := make([]sdp.Media, 0, len(offer.Media))
	var started []*ingestStream
	for i, m := range offer.Media {
		if i >= len(s.streams) {
			st, ans, err := s.openStream(i, m, now)
			if err != nil && (errors.Is(err, ErrNoPorts) || errors.Is(err, ErrTooManyChannels)) {
				s.rec.Warnings = append(s.rec.Warnings, fmt.Sprintf("new m-line %d refused: %v", i, err))
			}
			s.streams = append(s.streams, st)
			answers = append(answers, ans)
			if st != nil {
				started = append(started, st)
			}
			continue
		}
		st := s.streams[i]
		if st == nil {
			answers = append(answers, refusedMedia(m))
			continue
		}
		if m.Type != "audio" || m.Port == 0 {
			// The SRC stopped this stream: keep the channel, silent from now on.
			s.tl.SetActive(st.ch, false, now)
			answers = append(answers, refusedMedia(m))
			st.offer = m
			continue
		}
		ans, err := sdp.AnswerMedia(m, s.r.answerOptions(st.port))
		if err != nil {
			return nil, nil, statusErr(488, reasonForSDP(err), err)
		}
		if !sameCrypto(st.offer, m) || !sameCrypto(st.answer, ans) {
			recv, err := recvKeys(m, ans)
			if err != nil {
				return nil, nil, statusErr(488, reasonForSDP(err), err)
			}
			if !sameRecvKey(st, recv) {
				if err := st.ms.SetSRTP(nil, recv); err != nil {
					return nil, nil, statusErr(488, "Not Acceptable Here (SRTP keys unusable)", err)
				}
				st.srtp = recv != nil
			}
		}
		s.tl.SetCodecs(st.ch, codecMap(ans))
		s.tl.SetActive(st.ch, m.Direction.Sends(), now)
		if m.Label != "" && m.Label != st.label {
			st.label = m.Label
			info := s.tl.Snapshot().Channels[st.ch]
			info.Label = m.Label
			s.tl.SetChannelInfo(st.ch, info)
		}
		st.offer, st.answer = m, ans
		answers = append(answers, ans)
	}
	for i := len(offer.Media); i < len(s.streams); i++ {
		// m-lines may not disappear (RFC 3264 8); a short offer stops the missing ones.
		if st := s.streams[i]; st != nil {
			s.tl.SetActive(st.ch, false, now)
		}
	}
	ans := s.answer.Clone()
	ans.Media = answers
	ans.NextVersion()
	s.answer = ans
	return ans, started, nil
}

// hasMKI reports whether SDES key parameters ("|2^20|1:4") carry an MKI (the part with a
// colon).
func hasMKI(params string) bool {
	key, _, _ := strings.Cut(params, " ") // session parameters follow a space
	key, _, _ = strings.Cut(key, ";")     // further keys follow a semicolon
	for _, p := range strings.Split(key, "|") {
		if strings.Contains(p, ":") {
			return true
		}
	}
	return false
}

func sameCrypto(a, b sdp.Media) bool {
	if len(a.Crypto) != len(b.Crypto) {
		return false
	}
	for i := range a.Crypto {
		if a.Crypto[i].Tag != b.Crypto[i].Tag || a.Crypto[i].Suite != b.Crypto[i].Suite || !bytes.Equal(a.Crypto[i].Key, b.Crypto[i].Key) {
			return false
		}
	}
	return true
}

func sameRecvKey(st *ingestStream, k *media.SRTPKeys) bool {
	old, err := recvKeys(st.offer, st.answer)
	if err != nil {
		return false
	}
	if old == nil || k == nil {
		return old == nil && k == nil
	}
	return old.Suite == k.Suite && bytes.Equal(old.Key, k.Key)
}

// applyMetadataUpdate stores and applies a metadata document: a complete snapshot replaces
// the stored one, a partial update is merged into it (RFC 7865 datamode). Called with mu held.
func (s *session) applyMetadataUpdate(body *inviteBody) {
	if body.metadata == nil {
		return
	}
	s.rec.Warnings = appendUniq(s.rec.Warnings, body.warnings...)
	s.metaN++
	if s.metaN == 1 {
		s.writeFile(MetadataFile, body.metadata)
	} else {
		s.writeFile(fmt.Sprintf("metadata.%d.xml", s.metaN), body.metadata)
	}
	if body.md == nil {
		return
	}
	switch {
	case s.meta == nil || body.md.DataMode != siprec.DataModePartial:
		s.meta = body.md
	default:
		s.meta.Merge(body.md)
	}
	if s.metaN > 1 {
		// metadata.xml always holds the current complete snapshot; updates are kept as received.
		if b, err := s.meta.Marshal(); err == nil {
			s.writeFile(MetadataFile, b)
		} else {
			s.rec.Warnings = appendUniq(s.rec.Warnings, "merged metadata not writable: "+err.Error())
		}
	}
	applyMetadata(s.rec, s.meta)
	s.relabel()
}

// relabel maps metadata streams/participants onto the timeline channels.
func (s *session) relabel() {
	if s.meta == nil {
		return
	}
	chans, warns := labelChannels(s.tl.Snapshot().Channels, s.meta)
	for _, c := range chans {
		s.tl.SetChannelInfo(c.Index, c)
	}
	s.rec.Warnings = appendUniq(s.rec.Warnings, warns...)
}

func (s *session) writeFile(name string, b []byte) {
	if err := writeFileAtomic(s.r.store.Path(s.rec, name), b, false); err != nil {
		s.rec.Warnings = appendUniq(s.rec.Warnings, fmt.Sprintf("could not write %s: %v", name, err))
	}
}

// snapshot returns the recording with live timeline data. Called with mu held.
func (s *session) snapshotLocked(now time.Time) *Recording {
	rec := *s.rec
	rec.Warnings = append([]string(nil), s.rec.Warnings...)
	rec.DNs = append([]string(nil), s.rec.DNs...)
	rec.Participants = append([]Participant(nil), s.rec.Participants...)
	rec.UserData = maps.Clone(s.rec.UserData)
	snap := s.tl.Snapshot()
	rec.Channels = snap.Channels
	for _, st := range s.streams {
		if st != nil && st.ch < len(rec.Channels) {
			rec.Channels[st.ch].Stats.Dropped += st.ms.DropCount()
		}
	}
	rec.Pauses = snap.Pauses
	rec.Analysis = snap.Analysis
	rec.Audio = AudioInfo{File: AudioFile, Format: "pcm16", SampleRate: sampleRate, Channels: len(snap.Channels),
		Frames: snap.Frames, PartyFiles: snap.PartyFiles}
	if len(snap.Segments) > 1 {
		rec.Audio.Segments = snap.Segments
	}
	if rec.EndTime.IsZero() {
		rec.DurationMs = now.Sub(rec.StartTime).Milliseconds()
	} else {
		rec.DurationMs = snap.Frames / (sampleRate / 1000)
	}
	return &rec
}

// liveState is the state a live recording shows.
func (s *session) liveState() State {
	switch {
	case s.rec.Prerecord && !s.rec.Kept:
		return StateTentative
	case s.tl.Paused():
		return StatePaused
	}
	return StateRecording
}

// save writes recording.json and the index row. Called with mu held.
func (s *session) saveLocked(ctx context.Context, now time.Time) {
	rec := s.snapshotLocked(now)
	if err := s.r.store.Save(ctx, rec); err != nil {
		s.log.Error("saving recording failed", "id", rec.ID, "err", err)
	}
}

// finish ends the recording: the sockets are closed, the timeline is written out up to now
// and closed, and the recording is saved as complete (or tentative, for a pre-recording not
// kept yet, or failed when the audio could not be written). It is idempotent.
func (s *session) finish(now time.Time, why string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.mu.Unlock()

	s.stopStreams() // no Push after this
	_, err := s.tl.Finish(now)

	s.mu.Lock()
	rec := s.rec
	rec.EndTime = now
	switch {
	case err != nil:
		rec.State = StateFailed
		rec.Warnings = appendUniq(rec.Warnings, "audio could not be written: "+err.Error())
	case rec.Prerecord && !rec.Kept:
		rec.State = StateTentative
		rec.TentativeUntil = now.Add(s.r.cfg.PrerecordGrace)
	default:
		rec.State = StateComplete
	}
	if why != "" {
		rec.Warnings = appendUniq(rec.Warnings, why)
	}
	final := s.snapshotLocked(now)
	final.Audio.Segments = nil
	*s.rec = *final
	if err := s.r.store.SaveDurable(context.Background(), final); err != nil {
		s.log.Error("saving finished recording failed", "id", rec.ID, "err", err)
	}
	s.mu.Unlock()
	s.r.sessionEnded(s, final)
	s.log.Info("recording finished", "id", final.ID, "state", final.State, "duration_ms", final.DurationMs)
}

// abort removes a session whose INVITE was refused after the recording was created.
func (s *session) abort() {
	s.stopStreams()
	_, _ = s.tl.Finish(time.Now())
	if err := s.r.store.Delete(context.Background(), s.rec.ID); err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Warn("removing refused recording failed", "id", s.rec.ID, "err", err)
		_ = os.RemoveAll(s.r.store.Path(s.rec, ""))
	}
}

// contact is our Contact for this dialog: the listener of the INVITE's transport with
// +sip.srs (RFC 7866 6.1.2).
func (s *session) contact() sip.ContactHeader {
	return s.r.contactFor(s.transport)
}
