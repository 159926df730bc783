package sipserver

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/realpeer"
	"github.com/arlab/arlab/tlib"
)

func scenario(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "sipp", name))
	require.NoError(t, err)
	return p
}

// startSippAgent runs a sipp UAS scenario as the phone of dn and binds dn to
// it. It returns the sipp process and its RTP (echo) port.
func startSippAgent(t *testing.T, s *Server, dn, scen string, extra ...string) (*realpeer.Proc, int) {
	t.Helper()
	sipPort, mediaPort := realpeer.FreeUDPPort(t), realpeer.FreeUDPPort(t)
	args := append([]string{"-sf", scenario(t, scen), "-m", "1", "-mp", strconv.Itoa(mediaPort)}, extra...)
	args = append(args, realpeer.SippArgs(sipPort, 20*time.Second)...)
	p := realpeer.Start(t, t.TempDir(), 25*time.Second, "sipp", args...)
	registerContact(t, s, dn, fmt.Sprintf("sip:%s@127.0.0.1:%d", dn, sipPort))
	return p, mediaPort
}

// writeTonePCAP writes n 20 ms PCMU packets of a 1 kHz tone as an Ethernet
// pcap, for sipp's play_pcap_audio.
func writeTonePCAP(t *testing.T, path string, n int) {
	t.Helper()
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)              // thiszone, sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535) // snaplen
	b = binary.LittleEndian.AppendUint32(b, 1)     // Ethernet
	tone := audio.NewTone(1000, 0.3)
	pcm := make([]int16, 160)
	for i := range n {
		tone.Read(pcm)
		payload := make([]byte, 160)
		audio.EncodeUlaw(payload, pcm)
		rtp := []byte{0x80, 0, byte(i >> 8), byte(i)}
		rtp = binary.BigEndian.AppendUint32(rtp, uint32(i*160))
		rtp = binary.BigEndian.AppendUint32(rtp, 0x1234abcd)
		rtp = append(rtp, payload...)
		udp := binary.BigEndian.AppendUint16(nil, 6000)
		udp = binary.BigEndian.AppendUint16(udp, 6002)
		udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(rtp)))
		udp = append(udp, 0, 0)
		udp = append(udp, rtp...)
		ip := []byte{0x45, 0}
		ip = binary.BigEndian.AppendUint16(ip, uint16(20+len(udp)))
		ip = append(ip, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1)
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(ip[j])<<8 | uint32(ip[j+1])
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		frame := append(make([]byte, 12), 0x08, 0x00)
		frame = append(frame, ip...)
		frame = append(frame, udp...)
		us := i * 20000
		b = binary.LittleEndian.AppendUint32(b, uint32(us/1e6))
		b = binary.LittleEndian.AppendUint32(b, uint32(us%1e6))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// TestSippCustomerToSippAgent: sipp as the customer UAC calls DN 7001, whose
// phone is a sipp UAS echoing RTP. The call completes (INVITE/200/ACK/BYE)
// and tshark, capturing loopback, sees the customer's RTP reach the agent
// and the agent's RTP come back: the SDP the SIP Server relayed is right.
func TestSippCustomerToSippAgent(t *testing.T) {
	realpeer.Need(t, "sipp")
	realpeer.Need(t, "tshark")
	s := startServer(t, nil)
	desk := dialTLib(t, s, "desktop", "7001")
	agent, agentMedia := startSippAgent(t, s, "7001", "agent_uas.xml", "-rtp_echo")

	capture := realpeer.Start(t, "", 30*time.Second, "tshark", "-i", "lo", "-l", "-n",
		"-f", fmt.Sprintf("udp port %d", agentMedia), "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport")
	require.Eventually(t, func() bool { return strings.Contains(capture.Output(), "Capturing on") }, 10*time.Second, 20*time.Millisecond,
		"tshark did not start: %s", capture.Output())

	dir := t.TempDir()
	writeTonePCAP(t, filepath.Join(dir, "tone.pcap"), 50)
	custMedia := realpeer.FreeUDPPort(t)
	args := append([]string{"-sf", scenario(t, "customer_uac.xml"), "-s", "7001", s.SIPAddr("udp").String(),
		"-m", "1", "-mp", strconv.Itoa(custMedia)}, realpeer.SippArgs(realpeer.FreeUDPPort(t), 20*time.Second)...)
	cust := realpeer.Start(t, dir, 25*time.Second, "sipp", args...)
	require.NoError(t, cust.Wait(), "customer sipp:\n%s", cust.Output())
	require.NoError(t, agent.Wait(), "agent sipp:\n%s", agent.Output())

	evs := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished, tlib.EventReleased)
	assert.Equal(t, customerDN, evs[0].ANI)
	assert.Equal(t, tlib.CallStateRemoteRelease, evs[2].CallState, "ended by the customer's BYE")
	requireNoCalls(t, s)

	var toAgent, fromAgent int
	require.Eventually(t, func() bool {
		toAgent, fromAgent = 0, 0
		sc := bufio.NewScanner(strings.NewReader(capture.Output()))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			switch {
			case f[1] == strconv.Itoa(agentMedia):
				toAgent++
			case f[0] == strconv.Itoa(agentMedia):
				fromAgent++
			}
		}
		return toAgent >= 40 && fromAgent >= 40
	}, 10*time.Second, 50*time.Millisecond, "RTP to the agent %d, back %d", toAgent, fromAgent)
	t.Logf("RTP packets customer->agent %d, agent->customer %d", toAgent, fromAgent)
}

// TestPhoneHearsItselfThroughSippEcho: a pkg/phone customer calls a sipp
// agent that echoes RTP; the customer hears its own tone, so media flowed
// both ways on the addresses the SIP Server relayed.
func TestPhoneHearsItselfThroughSippEcho(t *testing.T) {
	realpeer.Need(t, "sipp")
	s := startServer(t, nil)
	agent, _ := startSippAgent(t, s, "7001", "agent_uas.xml", "-rtp_echo")
	cust := startCustomer(t, s, phone.Config{RecordAudio: true})
	ctx := ctxFor(t)
	var call *phone.Call
	require.Eventually(t, func() bool { // sipp needs a moment to bind
		var err error
		call, err = cust.Dial(ctx, "7001")
		return err == nil
	}, 10*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return call.Media().RecvStats().Packets > 30 }, waitFor, 10*time.Millisecond)
	f, ok := audio.DominantTone(call.Media().Received(), []float64{cust.ToneHz(), 1000})
	require.True(t, ok)
	assert.Equal(t, cust.ToneHz(), f, "the echo of the customer's own tone")
	require.NoError(t, call.Hangup(ctx))
	require.NoError(t, agent.Wait(), "agent sipp:\n%s", agent.Output())
	requireNoCalls(t, s)
}

// TestByeDuringReinvite: the customer holds (re-INVITE relayed to the agent)
// and the agent hangs up instead of answering it. The customer's re-INVITE
// is ended, the customer gets BYE, nothing is left.
func TestByeDuringReinvite(t *testing.T) {
	realpeer.Need(t, "sipp")
	s := startServer(t, nil)
	desk := dialTLib(t, s, "desktop", "7001")
	agent, _ := startSippAgent(t, s, "7001", "bye_during_reinvite_uas.xml")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)
	var call *phone.Call
	require.Eventually(t, func() bool {
		var err error
		call, err = cust.Dial(ctx, "7001")
		return err == nil
	}, 10*time.Second, 100*time.Millisecond)
	expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)

	err := call.Hold(ctx)
	var ce *phone.CallError
	require.ErrorAs(t, err, &ce, "the hold cannot succeed: the agent hung up")
	t.Logf("the customer's re-INVITE ended with %d", ce.Code)
	waitDone(t, call)
	require.NoError(t, agent.Wait(), "agent sipp:\n%s", agent.Output())
	rel := expectEvents(t, desk.Events(), tlib.EventReleased)[0]
	assert.Equal(t, tlib.CallStateOK, rel.CallState, "the agent hung up")
	requireNoCalls(t, s)
	requirePhoneIdle(t, cust)
}

// TestLateOfferCustomer: a sipp customer sends an offer-less INVITE (the
// agent phone offers in the 200, the customer answers in the ACK, relayed in
// the SIP Server's ACK), then an offer-less re-INVITE that puts the agent on
// hold the same way, then a DTMF INFO relayed to the agent.
func TestLateOfferCustomer(t *testing.T) {
	realpeer.Need(t, "sipp")
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	custMedia := realpeer.FreeUDPPort(t)
	args := append([]string{"-sf", scenario(t, "late_offer_uac.xml"), "-s", "7001", s.SIPAddr("udp").String(),
		"-m", "1", "-mp", strconv.Itoa(custMedia)}, realpeer.SippArgs(realpeer.FreeUDPPort(t), 20*time.Second)...)
	cust := realpeer.Start(t, t.TempDir(), 25*time.Second, "sipp", args...)

	agentCall := onlyCall(t, agent)
	require.NoError(t, agentCall.WaitState(ctxFor(t), phone.StateEstablished))
	require.Eventually(t, func() bool {
		return agentCall.Media().RemoteAddr().Port() == uint16(custMedia)
	}, waitFor, 10*time.Millisecond, "the ACK's answer reached the agent")
	require.Eventually(t, func() bool {
		m, ok := agentCall.Media().Remote().Audio()
		return ok && m.Direction == "sendonly"
	}, waitFor, 10*time.Millisecond, "the answer of the offer-less re-INVITE reached the agent")
	require.Eventually(t, func() bool { return agentCall.Media().DTMF() == "5" }, waitFor, 10*time.Millisecond)
	require.NoError(t, cust.Wait(), "customer sipp:\n%s", cust.Output())
	waitDone(t, agentCall)
	requireNoCalls(t, s)
}
