package mediaserver

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/sdp"
)

// rawParty is an RTP endpoint driven packet by packet.
type rawParty struct {
	t    *testing.T
	conn *net.UDPConn
	mu   sync.Mutex
	got  []packet
	done chan struct{}
}

func newRawParty(t *testing.T) *rawParty {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	p := &rawParty{t: t, conn: conn, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var pk packet
			if parseRTP(buf[:n], &pk) {
				pk.payload = append([]byte(nil), pk.payload...)
				p.mu.Lock()
				p.got = append(p.got, pk)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *rawParty) close() {
	_ = p.conn.Close()
	<-p.done
}

func (p *rawParty) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// sdp describes the party: one PCMU (or law) audio stream.
func (p *rawParty) sdp(law audio.Law, dir sdp.Direction) *sdp.Session {
	c := sdp.PCMU
	if law == audio.Alaw {
		c = sdp.PCMA
	}
	s, err := sdp.NewOffer(sdp.OfferOptions{Addr: p.addr().Addr(), Port: int(p.addr().Port()),
		Codecs: []sdp.Codec{c, sdp.TelephoneEvent}, Direction: dir})
	require.NoError(p.t, err)
	return s
}

// send sends n 20 ms packets of payload byte b to dst.
func (p *rawParty) send(dst netip.AddrPort, pt uint8, ssrc uint32, seq uint16, ts uint32, n int, b byte) {
	buf := make([]byte, rtpHeaderLen+frameSamples)
	for i := range n {
		putHeader(buf, false, pt, seq+uint16(i), ts+uint32(i*frameSamples), ssrc)
		for j := rtpHeaderLen; j < len(buf); j++ {
			buf[j] = b
		}
		_, err := p.conn.WriteToUDPAddrPort(buf, dst)
		require.NoError(p.t, err)
		time.Sleep(2 * time.Millisecond) // keep the order and the socket buffers happy
	}
}

func (p *rawParty) packets() []packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]packet(nil), p.got...)
}

func (p *rawParty) waitPackets(n int) []packet {
	p.t.Helper()
	eventually(p.t, 3*time.Second, func() bool { return len(p.packets()) >= n }, "%d packets", n)
	return p.packets()
}

// msAddr is the media server's RTP address in an SDP body.
func msAddr(t *testing.T, body []byte) netip.AddrPort {
	t.Helper()
	s, err := sdp.Parse(body)
	require.NoError(t, err)
	m, ok := s.Audio()
	require.True(t, ok)
	return m.RTPAddr()
}

// TestOfferlessLegAndContinuity: an offer-less INVITE gets the media
// server's offer in the 200 and the answer in the ACK (3pcc). A re-INVITE
// moving a party to a new socket with a new SSRC does not show to the other
// party: same SSRC, sequence +1, timestamp advanced by the real gap.
// Payload converts between the laws the two legs negotiated.
func TestOfferlessLegAndContinuity(t *testing.T) {
	ms := newTestServer(t, nil)
	stub := newSIPStub(t, ms.SIPAddr("udp"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, bParty := newRawParty(t), newRawParty(t)

	// Leg A: offer-less.
	la, err := stub.openLeg(ctx, "c9", "1001", nil)
	require.NoError(t, err)
	offer, err := sdp.Parse(la.uac.InviteResponse.Body())
	require.NoError(t, err)
	om, ok := offer.Audio()
	require.True(t, ok)
	assert.Equal(t, sdp.SendRecv, om.Direction)
	answer, err := sdp.Answer(offer, sdp.AnswerOptions{Addr: a.addr().Addr(), Port: int(a.addr().Port()), Codecs: []sdp.Codec{sdp.PCMA}})
	require.NoError(t, err)
	ack := sip.NewRequest(sip.ACK, la.uac.InviteResponse.Contact().Address)
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(answer.Marshal())
	require.NoError(t, la.uac.WriteAck(ctx, ack))
	msA := om.RTPAddr()

	// Leg B: with an offer, PCMU.
	lb, err := stub.openLeg(ctx, "c9", "1002", bParty.sdp(audio.Ulaw, sdp.SendRecv).Marshal())
	require.NoError(t, err)
	require.NoError(t, lb.uac.Ack(ctx))
	msB := msAddr(t, lb.uac.InviteResponse.Body())
	eventually(t, 2*time.Second, func() bool {
		c := ms.Conferences()
		return len(c) == 1 && c[0].Legs[0].Codec == "PCMA"
	}, "the answer in the ACK was applied")

	// A sends A-law; B (µ-law) gets the same sample in µ-law.
	a.send(msA, 8, 0x1111, 100, 1000, 5, 0x55)
	var pcm [1]int16
	audio.Alaw.Decode(pcm[:], []byte{0x55})
	var want [1]byte
	audio.Ulaw.Encode(want[:], pcm[:])
	got := bParty.waitPackets(5)
	for _, p := range got {
		assert.Equal(t, uint8(0), p.pt)
		assert.Equal(t, want[0], p.payload[0])
		assert.Len(t, p.payload, frameSamples)
	}
	outSSRC, lastSeq, lastTS := got[4].ssrc, got[4].seq, got[4].ts

	// A moves to a new socket with a new SSRC (re-INVITE).
	a2 := newRawParty(t)
	re := sip.NewRequest(sip.INVITE, la.uac.InviteResponse.Contact().Address)
	re.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	re.SetBody(a2.sdp(audio.Ulaw, sdp.SendRecv).Marshal())
	res, err := la.uac.Do(ctx, re)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.NoError(t, la.uac.WriteRequest(sip.NewRequest(sip.ACK, la.uac.InviteResponse.Contact().Address)))
	assert.Equal(t, msA, msAddr(t, res.Body()), "the media server keeps its port")
	gap := 200 * time.Millisecond
	time.Sleep(gap) // the time the move took
	a2.send(msA, 0, 0x2222, 50000, 777, 5, 0xFF)
	got = bParty.waitPackets(10)
	p := got[5]
	assert.Equal(t, outSSRC, p.ssrc, "same SSRC towards B")
	assert.Equal(t, lastSeq+1, p.seq, "sequence continues")
	assert.True(t, p.marker, "marker on the new segment")
	assert.InDelta(t, float64(gap.Seconds()*8000), float64(p.ts-lastTS), 800, "timestamp advances by the wall-clock gap")

	// B sends to A: it now reaches A's new socket.
	bParty.send(msB, 0, 0x3333, 1, 1, 3, 0xFF)
	got = a2.waitPackets(3)
	assert.Equal(t, uint8(0), got[0].pt)
	assert.Empty(t, a.packets(), "nothing to A's old socket after the move")

	// Garbage and RTCP on the leg socket are dropped, not relayed.
	_, err = a2.conn.WriteToUDPAddrPort([]byte{0x81, 200, 0, 1, 0, 0, 0, 0}, msA)
	require.NoError(t, err)
	_, err = a2.conn.WriteToUDPAddrPort([]byte("hello"), msA)
	require.NoError(t, err)
	eventually(t, 2*time.Second, func() bool { return ms.Conferences()[0].Legs[0].RxDropped == 2 }, "two datagrams dropped")
	assert.Len(t, bParty.packets(), 10)
}

// TestPhonesWithDifferentLaws: an A-law phone and a µ-law phone hear each
// other through the media server.
func TestPhonesWithDifferentLaws(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	ms := newTestServer(t, nil)
	stub := newSIPStub(t, ms.SIPAddr("udp"))
	cust := newPhone(t, customerDN, func(c *phone.Config) { c.Codecs = []sdp.Codec{sdp.PCMA, sdp.TelephoneEvent} })
	agent := newPhone(t, agentDN, func(c *phone.Config) { c.Codecs = []sdp.Codec{sdp.PCMU, sdp.TelephoneEvent} })
	cc := call(t, stub, cust, "c1")
	ac := call(t, stub, agent, "c1")
	eventually(t, 5*time.Second, func() bool {
		return heardFor(ac.Media().Received(), time.Second, customerTone) && heardFor(cc.Media().Received(), time.Second, agentTone)
	}, "both hear each other across laws")
	legs := ms.Conferences()[0].Legs
	assert.Equal(t, "PCMA", legs[0].Codec)
	assert.Equal(t, "PCMU", legs[1].Codec)
}

// TestSRTPLegs: phones using SDES-SRTP towards the media server hear each
// other.
func TestSRTPLegs(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", nil, func(c *phone.Config) { c.SRTP = true })
	eventually(t, 5*time.Second, func() bool {
		return heardFor(b.agentCall.Media().Received(), time.Second, customerTone) &&
			heardFor(b.customerCall.Media().Received(), time.Second, agentTone)
	}, "SRTP phones hear each other")
	for _, l := range b.ms.Conferences()[0].Legs {
		assert.True(t, l.SRTP)
		assert.Zero(t, l.RxDropped)
	}
}
