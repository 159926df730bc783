package e2e

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/media"
	"github.com/arlab/arlab/pkg/realpeer"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/wav"
)

// TestSippSRCRecordsThroughLabWithCapture: sipp, as a vendor's SIPREC client,
// records a call through the lab's Resource Manager into its recorder cluster
// (multipart INVITE with two labelled streams and RFC 7865 metadata, a pause
// re-INVITE, a resume, BYE), while tshark captures the lab's traffic. The
// capture must show the SIPREC INVITE's parts and two RTP streams into the
// recorder; the recorder API must return a verified two-channel recording.
func TestSippSRCRecordsThroughLabWithCapture(t *testing.T) {
	realpeer.Need(t, "sipp")
	realpeer.Need(t, "tshark")
	l := startLab(t, "--no-phones")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	work := t.TempDir()

	rm := l.cfg.ResourceManager.SIP.TCP
	var filter []string
	for _, r := range l.cfg.Recorders {
		_, port, _ := net.SplitHostPort(r.SIP.TCP)
		filter = append(filter, "tcp port "+port)
	}
	_, rmPort, _ := net.SplitHostPort(rm)
	filter = append(filter, "tcp port "+rmPort, "udp")
	pcap := filepath.Join(work, "lab.pcapng")
	capture := realpeer.Start(t, work, 50*time.Second, "tshark", "-i", "lo", "-f", strings.Join(filter, " or "), "-w", pcap)
	require.Eventually(t, func() bool { return strings.Contains(capture.Output(), "Capturing on") }, 15*time.Second, 50*time.Millisecond,
		"tshark did not start: %s", capture.Output())

	scenario, err := filepath.Abs("../recorder/testdata/sipp/siprec_src.xml")
	require.NoError(t, err)
	sipp := realpeer.Start(t, work, 40*time.Second, "sipp", append([]string{rm, "-sf", scenario, "-t", "t1", "-m", "1", "-l", "1",
		"-trace_msg"}, realpeer.SippArgs(realpeer.FreeUDPPort(t), 30*time.Second)...)...)

	// The recorder answered with one port per stream: read them from the
	// 200 OK sipp logged, and send each party's tone there.
	ports := waitAnswerPorts(t, work, 10*time.Second)
	require.Len(t, ports, 2)
	stop := sendTones(t, ports, []string{"+15551230000", "7001"}, []audio.Law{audio.Ulaw, audio.Alaw})
	require.NoError(t, sipp.Wait(), "sipp:\n%s", sipp.Output())
	stop()
	capture.Interrupt(10 * time.Second) // SIGINT: tshark flushes the capture file

	// What went over the wire, as tshark decodes it.
	decodeSIP := []string{"-d", "tcp.port==" + rmPort + ",sip"}
	for _, r := range l.cfg.Recorders {
		_, port, _ := net.SplitHostPort(r.SIP.TCP)
		decodeSIP = append(decodeSIP, "-d", "tcp.port=="+port+",sip")
	}
	out, err := tshark(ctx, append(append([]string{"-r", pcap}, decodeSIP...), "-Y", `sip.Method == "INVITE" && sip.Require`,
		"-T", "fields", "-E", "separator=|", "-e", "sip.Require", "-e", "sip.Contact", "-e", "mime_multipart.header.content-type",
		"-e", "mime_multipart.header.content-disposition")...)
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.GreaterOrEqual(t, len(lines), 2, "the SIPREC INVITE, sipp to RM and RM to recorder:\n%s", out)
	first := lines[0]
	assert.Contains(t, first, "siprec")
	assert.Contains(t, first, "+sip.src")
	assert.Contains(t, first, "application/sdp")
	assert.Contains(t, first, "application/rs-metadata+xml")
	assert.Contains(t, first, "recording-session")

	streams, err := tshark(ctx, "-r", pcap, "-d", "udp.port=="+strconv.Itoa(int(ports[0].Port()))+",rtp",
		"-d", "udp.port=="+strconv.Itoa(int(ports[1].Port()))+",rtp", "-q", "-z", "rtp,streams")
	require.NoError(t, err, streams)
	rows := 0
	for _, line := range strings.Split(streams, "\n") {
		for _, p := range ports {
			if strings.Contains(line, " "+strconv.Itoa(int(p.Port()))+" ") && strings.Contains(line, "g711") {
				rows++
				assert.Regexp(t, `\s0 \(0\.0%\)`, line, "RTP stream to the recorder lost packets: %s", line)
			}
		}
	}
	assert.Equal(t, 2, rows, "two RTP streams into the recorder:\n%s", streams)

	// What the recorder cluster made of it.
	var cl recclient.Cluster
	for _, r := range l.cfg.Recorders {
		cl = append(cl, recclient.New(r.HTTP, ""))
	}
	var found []recclient.Found
	require.Eventually(t, func() bool {
		found, _ = cl.Search(ctx, recclient.Query{CallUUID: "SIPP-CALL-UUID-1", States: []string{"complete"}})
		return len(found) == 1
	}, 10*time.Second, 100*time.Millisecond)
	rec := found[0]
	require.Len(t, rec.Pauses, 1)
	c := cl[0]
	if rec.Recorder != c.Base {
		c = cl[1]
	}
	body, err := c.Audio(ctx, rec.ID, -1)
	require.NoError(t, err)
	f, err := wav.Read(body)
	body.Close()
	require.NoError(t, err)
	v := recclient.VerifyTones(rec.Recording, f)
	assert.True(t, v.OK(), "%v", v.Problems())
}

// tshark runs tshark and returns its standard output (it warns on stderr
// when run as root).
func tshark(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "tshark", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

var mLine = regexp.MustCompile(`(?m)^m=audio (\d+) `)
var cLine = regexp.MustCompile(`(?m)^c=IN IP4 ([0-9.]+)`)

// waitAnswerPorts reads the recorder's RTP addresses from the first 200 OK
// with SDP in sipp's message log.
func waitAnswerPorts(t *testing.T, dir string, within time.Duration) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	require.Eventually(t, func() bool {
		logs, _ := filepath.Glob(filepath.Join(dir, "*_messages.log"))
		for _, lf := range logs {
			b, err := os.ReadFile(lf)
			if err != nil {
				continue
			}
			s := string(b)
			i := strings.Index(s, "SIP/2.0 200 OK")
			if i < 0 {
				continue
			}
			msg := s[i:]
			if j := strings.Index(msg, "\n\n----"); j > 0 {
				msg = msg[:j]
			}
			c := cLine.FindStringSubmatch(msg)
			ms := mLine.FindAllStringSubmatch(msg, -1)
			if c == nil || len(ms) < 2 {
				continue
			}
			out = out[:0]
			for _, m := range ms {
				port, _ := strconv.Atoi(m[1])
				out = append(out, netip.AddrPortFrom(netip.MustParseAddr(c[1]), uint16(port)))
			}
			return true
		}
		return false
	}, within, 20*time.Millisecond, "no 200 OK with SDP in sipp's log")
	return out
}

// sendTones streams each party's tone to its address until stop is called.
func sendTones(t *testing.T, to []netip.AddrPort, dns []string, laws []audio.Law) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, addr := range to {
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		sess, err := media.NewSession(media.Config{Conn: conn, Remote: addr, PayloadType: laws[i].PayloadType(), ClockRate: 8000})
		require.NoError(t, err)
		st := media.NewStream(media.StreamConfig{Session: sess, Source: audio.NewTone(audio.ToneForDN(dns[i]), 0.3), Law: laws[i]})
		st.SetReceiving(false)
		st.Start(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			st.Close()
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// TestSippCustomerCallsLabAgent: sipp's built-in UAC, as a customer, calls
// agent 7002 through the lab's SIP Server; the agent's phone process answers
// and the call completes with 200/ACK/BYE.
func TestSippCustomerCallsLabAgent(t *testing.T) {
	realpeer.Need(t, "sipp")
	l := startLab(t)
	args := append([]string{"-sn", "uac", "-s", "7002", l.cfg.SIPServer.SIP.UDP, "-m", "3", "-l", "1", "-d", "500"},
		realpeer.SippArgs(realpeer.FreeUDPPort(t), 20*time.Second)...)
	sipp := realpeer.Start(t, t.TempDir(), 25*time.Second, "sipp", args...)
	require.NoError(t, sipp.Wait(), "sipp customer:\n%s", sipp.Output())
	assert.Regexp(t, `Successful call\s+\|\s+\d+\s+\|\s+3`, sipp.Output())
}
