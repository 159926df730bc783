package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/media"
	"github.com/arlab/arlab/pkg/sdp"
)

// ErrNoAudio is an SDP with no usable audio stream.
var ErrNoAudio = errors.New("no usable audio stream")

// callMedia ties a call's SDP negotiation to its RTP session and stream.
type callMedia struct {
	p    *Phone
	c    *Call
	sess *media.Session
	addr netip.AddrPort

	mu        sync.Mutex
	local     *sdp.Session // the last SDP we sent
	prevLocal *sdp.Session // what to go back to when a re-offer is refused
	remote    *sdp.Session
	stream    *media.Stream
	started   bool
	stopped   bool
	sending   bool
	law       audio.Law
	dtmf      []rune
}

func newCallMedia(p *Phone, c *Call) (*callMedia, error) {
	conn, err := net.ListenPacket("udp", netip.AddrPortFrom(mustAddr(p.cfg.Host), 0).String())
	if err != nil {
		return nil, fmt.Errorf("phone: rtp socket: %w", err)
	}
	sess, err := media.NewSession(media.Config{Conn: conn, PayloadType: 0, ClockRate: 8000, Logger: p.log})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &callMedia{p: p, c: c, sess: sess, addr: sess.LocalAddr()}, nil
}

func (m *callMedia) initialOffer() (*sdp.Session, error) {
	offer, err := sdp.NewOffer(sdp.OfferOptions{
		Addr: m.addr.Addr(), Port: int(m.addr.Port()), Codecs: m.p.cfg.Codecs,
		Direction: sdp.SendRecv, SRTP: m.p.cfg.SRTP, Username: "arlab",
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.local = offer
	m.mu.Unlock()
	return offer, nil
}

// answer answers an offer (initial or re-INVITE) and applies the result.
func (m *callMedia) answer(offer *sdp.Session) (*sdp.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	wish := sdp.SendRecv
	if m.local != nil {
		if lm, ok := m.local.Audio(); ok && !lm.Direction.Receives() {
			wish = sdp.SendOnly // we hold the far end: keep holding
		}
	}
	ans, err := sdp.Answer(offer, sdp.AnswerOptions{
		Addr: m.addr.Addr(), Port: int(m.addr.Port()), Codecs: m.p.cfg.Codecs,
		Direction: wish, SRTP: m.p.cfg.SRTP, Username: "arlab",
	})
	if err != nil {
		return nil, err
	}
	if m.local != nil {
		ans.Origin = m.local.Origin
		ans.NextVersion()
	}
	if err := m.applyLocked(ans, offer, true); err != nil {
		return nil, err
	}
	m.local, m.remote = ans, offer
	return ans, nil
}

// reoffer makes our next offer with the audio direction dir ("" = unchanged).
func (m *callMedia) reoffer(dir sdp.Direction) *sdp.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	offer := m.local.Clone()
	offer.NextVersion()
	for i := range offer.Media {
		if offer.Media[i].Type == "audio" && offer.Media[i].Port != 0 && dir != "" {
			offer.Media[i].Direction = dir
		}
	}
	m.prevLocal, m.local = m.local, offer
	return offer
}

func (m *callMedia) rollback() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.prevLocal != nil {
		m.local, m.prevLocal = m.prevLocal, nil
	}
}

// applyAnswer applies the far end's answer to our last offer and starts media.
func (m *callMedia) applyAnswer(answer *sdp.Session) error {
	m.mu.Lock()
	err := m.applyLocked(m.local, answer, false)
	if err == nil {
		m.remote = answer
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.startIfReady()
	return nil
}

// applyLocked points the RTP session at what local and remote agreed.
// localIsAnswer says which of the two is the answer, whose codec order rules.
func (m *callMedia) applyLocked(local, remote *sdp.Session, localIsAnswer bool) error {
	lm, ok := local.Audio()
	if !ok {
		return ErrNoAudio
	}
	rm, ok := remote.Audio()
	if !ok {
		return ErrNoAudio
	}
	answer := rm
	if localIsAnswer {
		answer = lm
	}
	var pt uint8
	var law audio.Law
	found := false
	for _, cd := range answer.Codecs {
		if l, ok := audio.LawForPayloadType(cd.PayloadType); ok && !cd.IsTelephoneEvent() {
			pt, law, found = cd.PayloadType, l, true
			break
		}
	}
	if !found {
		return fmt.Errorf("%w: no G.711 codec agreed", sdp.ErrNoCommonCodec)
	}
	if ev, ok := answer.TelephoneEvent(); ok {
		m.sess.SetEventPayloadType(ev.PayloadType)
	}
	if lm.IsSecure() != rm.IsSecure() {
		return fmt.Errorf("%w: one side offers SRTP and the other does not", sdp.ErrSRTPRequired)
	}
	if rm.IsSecure() {
		if len(answer.Crypto) == 0 {
			return fmt.Errorf("%w: SRTP answer without a=crypto", sdp.ErrBadCrypto)
		}
		tag := answer.Crypto[0].Tag
		lc, ok1 := lm.CryptoByTag(tag)
		rc, ok2 := rm.CryptoByTag(tag)
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: no crypto line with tag %d on both sides", sdp.ErrBadCrypto, tag)
		}
		if err := m.sess.SetSRTP(&media.SRTPKeys{Suite: lc.Suite, Key: lc.Key}, &media.SRTPKeys{Suite: rc.Suite, Key: rc.Key}); err != nil {
			return err
		}
	}
	raddr := rm.RTPAddr()
	reachable := rm.Port != 0 && raddr.Addr().IsValid() && !raddr.Addr().IsUnspecified()
	if reachable {
		m.sess.SetRemote(raddr)
	}
	m.sess.SetPayloadType(pt)
	send := lm.Direction.Sends() && rm.Direction.Receives() && reachable
	recv := lm.Direction.Receives()
	if m.stream == nil {
		m.law = law
		m.stream = media.NewStream(media.StreamConfig{
			Session: m.sess, Source: audio.NewTone(m.p.cfg.ToneHz, 0.3), Law: law,
			Ptime: 20 * time.Millisecond, Record: m.p.cfg.RecordAudio,
		})
		m.stream.OnDTMF(func(ev media.DTMFEvent) { m.noteDTMF(ev.Digit, ev.Duration) })
	} else if law != m.law {
		m.stream.SetLaw(law)
		m.law = law
	}
	m.stream.SetSending(send)
	m.stream.SetReceiving(recv)
	m.sending = send
	return nil
}

func (m *callMedia) startIfReady() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stream != nil && !m.started && !m.stopped {
		m.started = true
		m.stream.Start(m.c.ctx)
	}
}

func (m *callMedia) stop() {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	st := m.stream
	m.mu.Unlock()
	if st != nil {
		st.Close()
	}
	m.sess.Close()
}

func (m *callMedia) sendDTMF(ctx context.Context, digits string, d time.Duration) error {
	m.mu.Lock()
	st := m.stream
	m.mu.Unlock()
	if st == nil {
		return ErrNoAudio
	}
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	for _, r := range digits {
		if err := st.SendDTMF(ctx, media.DTMFEvent{Digit: r, Duration: d}); err != nil {
			return err
		}
	}
	return nil
}

func (m *callMedia) noteDTMF(digit rune, _ time.Duration) {
	m.mu.Lock()
	m.dtmf = append(m.dtmf, digit)
	m.mu.Unlock()
}

// CallMedia is the read side of a call's RTP, for checks.
type CallMedia struct{ m *callMedia }

// LocalAddr is where the call receives RTP.
func (cm *CallMedia) LocalAddr() netip.AddrPort { return cm.m.addr }

// RemoteAddr is where the call sends RTP.
func (cm *CallMedia) RemoteAddr() netip.AddrPort { return cm.m.sess.Remote() }

// Sending tells whether the phone currently sends audio.
func (cm *CallMedia) Sending() bool {
	cm.m.mu.Lock()
	defer cm.m.mu.Unlock()
	return cm.m.sending
}

// RecvStats are the receive statistics of the current stream.
func (cm *CallMedia) RecvStats() media.Stats { return cm.m.sess.Stats() }

// Sent counts the RTP packets and bytes sent.
func (cm *CallMedia) Sent() (packets, bytes uint64) { return cm.m.sess.Sent() }

// Received returns the received audio on its timeline (needs RecordAudio).
func (cm *CallMedia) Received() []int16 {
	cm.m.mu.Lock()
	st := cm.m.stream
	cm.m.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.Received()
}

// DTMF returns the digits received so far (RFC 4733 or SIP INFO).
func (cm *CallMedia) DTMF() string {
	cm.m.mu.Lock()
	defer cm.m.mu.Unlock()
	return string(cm.m.dtmf)
}

// Local and Remote are the last SDP sent and received.
func (cm *CallMedia) Local() *sdp.Session {
	cm.m.mu.Lock()
	defer cm.m.mu.Unlock()
	return cm.m.local
}

// Remote is the last SDP received.
func (cm *CallMedia) Remote() *sdp.Session {
	cm.m.mu.Lock()
	defer cm.m.mu.Unlock()
	return cm.m.remote
}
