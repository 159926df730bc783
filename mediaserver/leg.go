package mediaserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
)

// Leg roles in a conference.
const (
	roleParty      = "party"      // one of the two bridged parties
	roleSupervisor = "supervisor" // joined with <join>: hears the mix
	rolePending    = "pending"    // a third leg not (yet) joined: hears nothing, heard by nobody
)

// rxParams is what the read loop needs to classify and decrypt received
// packets; it is swapped as a whole when a re-INVITE renegotiates.
type rxParams struct {
	audioPT uint8
	law     audio.Law
	eventPT uint8
	eventOK bool
	srtp    *srtp.Context // decrypts what the party sends; nil = plain RTP
}

// leg is one party's media-control dialog and RTP socket.
type leg struct {
	srv    *Server
	conf   *conference
	dn     string
	callID string
	log    *slog.Logger

	conn  *net.UDPConn
	local netip.AddrPort // advertised RTP address

	rx    atomic.Pointer[rxParams]
	sinks atomic.Pointer[[]sink]
	// toParty is what this leg's party hears: the other party (relayed) or a
	// mix (supervisor, coached agent).
	toParty *outStream
	pkt     packet
	decHdr  rtp.Header

	rxPackets, rxBytes, rxDropped atomic.Uint64
	running                       atomic.Bool
	done                          chan struct{} // closed when the read loop ends

	// Signalling state. inDialog serialises the handling of requests inside
	// the dialog (sipgo runs each on its own goroutine).
	inDialog   sync.Mutex
	mu         sync.Mutex
	ds         *sipgo.DialogServerSession
	network    string
	role       string
	localSDP   *sdp.Session
	remoteSDP  *sdp.Session
	remoteCSeq uint32
	confirmed  chan struct{}
	confOnce   sync.Once
	ended      bool
	// pendingOffer is set while our offer (offer-less INVITE or re-INVITE)
	// awaits the answer in the ACK.
	pendingOffer bool
}

func newLeg(s *Server, dn, callID, network string) (*leg, error) {
	conn, err := s.ports.listen()
	if err != nil {
		return nil, err
	}
	l := &leg{
		srv:       s,
		dn:        dn,
		callID:    callID,
		network:   network,
		conn:      conn,
		local:     netip.AddrPortFrom(s.advertise, conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()),
		done:      make(chan struct{}),
		confirmed: make(chan struct{}),
		role:      rolePending,
	}
	l.toParty = newOutStream(conn, audio.Ulaw)
	l.rx.Store(&rxParams{audioPT: 0, law: audio.Ulaw})
	empty := []sink{}
	l.sinks.Store(&empty)
	l.log = s.log.With("dn", dn, "call_id", callID)
	return l, nil
}

// start runs the read loop; it ends when the socket is closed.
func (l *leg) start() bool {
	l.running.Store(true)
	if !l.srv.spawn(l.readLoop) {
		l.running.Store(false)
		return false
	}
	return true
}

func (l *leg) readLoop() {
	defer close(l.done)
	buf := make([]byte, maxPacket+1)
	p := &l.pkt
	failures := 0
	for {
		n, _, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors surface on reads on some systems; a socket that
			// fails on every read is broken.
			if failures++; failures > 64 {
				l.log.Warn("RTP socket keeps failing; leg media stopped", "error", err)
				return
			}
			continue
		}
		failures = 0
		l.handle(buf[:n], p)
	}
}

// handle processes one datagram: the hot path. It does not allocate.
func (l *leg) handle(data []byte, p *packet) {
	if len(data) > maxPacket {
		l.rxDropped.Add(1)
		return
	}
	rx := l.rx.Load()
	if rx.srtp != nil {
		out, err := rx.srtp.DecryptRTP(data, data, &l.decHdr)
		if err != nil {
			l.rxDropped.Add(1)
			return
		}
		data = out
	}
	if !parseRTP(data, p) {
		l.rxDropped.Add(1)
		return
	}
	switch {
	case p.pt == rx.audioPT:
		p.kind, p.law = kindAudio, rx.law
	case rx.eventOK && p.pt == rx.eventPT:
		p.kind = kindEvent
	default:
		// A party may switch between the G.711 laws it offered.
		if law, ok := audio.LawForPayloadType(p.pt); ok {
			p.kind, p.law = kindAudio, law
		} else {
			p.kind = kindOther
		}
	}
	p.arrival = nanotime()
	l.rxPackets.Add(1)
	l.rxBytes.Add(uint64(len(p.payload)))
	for _, s := range *l.sinks.Load() {
		s.write(p)
	}
}

// applyMedia takes a negotiated pair (our description and the party's) and
// points the RTP plumbing at it. The codec is the answer's first: ours when
// we answered, the party's when we offered.
func (l *leg) applyMedia(local, remote *sdp.Session, weOffered bool) error {
	lm, ok := local.Audio()
	if !ok {
		return fmt.Errorf("%w: our description has no audio", sdp.ErrNoMedia)
	}
	var rm sdp.Media
	found := false
	for _, m := range remote.Media {
		if m.Type == "audio" && m.Port != 0 {
			rm, found = m, true
			break
		}
	}
	if !found {
		// The party disabled its stream: stop sending to it.
		l.toParty.configure(netip.AddrPort{}, audio.Ulaw, 0, false)
		return nil
	}
	var law audio.Law
	var pt uint8
	lawFound := false
	answer := lm
	if weOffered {
		answer = rm
	}
	for _, c := range answer.Codecs {
		if c.IsTelephoneEvent() {
			continue
		}
		if lw, ok := audio.LawForPayloadType(c.PayloadType); ok && c.ClockRate == sampleRate {
			law, pt, lawFound = lw, c.PayloadType, true
			break
		}
	}
	if !lawFound {
		return fmt.Errorf("%w: no G.711 codec negotiated", sdp.ErrNoCommonCodec)
	}
	rx := &rxParams{audioPT: pt, law: law}
	if te, ok := lm.TelephoneEvent(); ok {
		rx.eventPT, rx.eventOK = te.PayloadType, true
	}
	txEventPT, txEventOK := uint8(0), false
	if te, ok := rm.TelephoneEvent(); ok {
		txEventPT, txEventOK = te.PayloadType, true
	}
	// SDES: each side's a=crypto is the key it sends with.
	var enc *srtp.Context
	if lm.IsSecure() && len(lm.Crypto) > 0 && len(rm.Crypto) > 0 {
		theirs, ok := rm.CryptoByTag(lm.Crypto[0].Tag)
		if !ok {
			theirs = rm.Crypto[0]
		}
		dec, err := newSRTPContext(theirs)
		if err != nil {
			return err
		}
		if enc, err = newSRTPContext(lm.Crypto[0]); err != nil {
			return err
		}
		rx.srtp = dec
	}
	dst := rm.RTPAddr()
	// Sending to a party that only sends (hold) or refused media is skipped.
	if !lm.Direction.Sends() || !rm.Direction.Receives() {
		dst = netip.AddrPort{}
	}
	l.rx.Store(rx)
	l.toParty.configure(dst, law, txEventPT, txEventOK)
	l.toParty.setSRTP(enc)
	l.mu.Lock()
	l.localSDP, l.remoteSDP = local, remote
	l.mu.Unlock()
	return nil
}

// law returns the G.711 law the leg negotiated.
func (l *leg) law() audio.Law { return l.rx.Load().law }

func (l *leg) setSinks(s []sink) { l.sinks.Store(&s) }

func (l *leg) markConfirmed() { l.confOnce.Do(func() { close(l.confirmed) }) }

// closeMedia stops the read loop and waits for it (if it ever ran).
func (l *leg) closeMedia() {
	_ = l.conn.Close()
	if l.running.Load() {
		<-l.done
	}
}

// remoteTarget is where in-dialog requests to the SIP Server go (its Contact).
func (l *leg) remoteTarget() sip.Uri {
	if ct := l.ds.InviteRequest.Contact(); ct != nil {
		return ct.Address
	}
	return l.ds.InviteRequest.From().Address
}
