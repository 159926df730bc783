package mediaserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
)

// loadgenEnv makes the test binary run the load generator instead of the
// tests: the parties and recorders of BenchmarkConferences live in a child
// process, so the benchmark's CPU accounting (getrusage of this process)
// covers the media server's work only.
const loadgenEnv = "ARLAB_MS_LOADGEN"

type loadgenConfig struct {
	Legs     []string `json:"legs"` // media server leg addresses, two per conference
	Duration int      `json:"duration_ms"`
}

type loadgenAddrs struct {
	Parties   []string `json:"parties"`   // where each leg's party receives
	Recorders []string `json:"recorders"` // where each party's recorder stream goes
}

type loadgenResult struct {
	Sent         uint64 `json:"sent"`
	RecvParty    uint64 `json:"recv_party"`
	RecvRecorder uint64 `json:"recv_recorder"`
}

// runLoadgen is the child: each party sends 50 packets/s of G.711 to its leg
// and counts what the media server relays to it; each recorder socket counts
// what it gets.
func runLoadgen() int {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	var cfg loadgenConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	var (
		parties, recorders []*net.UDPConn
		addrs              loadgenAddrs
		recvP, recvR       atomic.Uint64
		wg                 sync.WaitGroup
	)
	open := func(counter *atomic.Uint64) (*net.UDPConn, error) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				counter.Add(1)
			}
		}()
		return c, nil
	}
	for range cfg.Legs {
		p, err := open(&recvP)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 2
		}
		r, err := open(&recvR)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 2
		}
		parties, recorders = append(parties, p), append(recorders, r)
		addrs.Parties = append(addrs.Parties, p.LocalAddr().String())
		addrs.Recorders = append(addrs.Recorders, r.LocalAddr().String())
	}
	out, _ := json.Marshal(addrs)
	fmt.Printf("%s\n", out)
	if _, err := in.ReadBytes('\n'); err != nil { // "go"
		return 2
	}
	legs := make([]netip.AddrPort, len(cfg.Legs))
	for i, a := range cfg.Legs {
		legs[i] = netip.MustParseAddrPort(a)
	}
	pkt := make([]byte, rtpHeaderLen+frameSamples)
	for i := rtpHeaderLen; i < len(pkt); i++ {
		pkt[i] = 0x55
	}
	var sent uint64
	tick := time.NewTicker(20 * time.Millisecond)
	end := time.Now().Add(time.Duration(cfg.Duration) * time.Millisecond)
	for n := uint32(0); time.Now().Before(end); n++ {
		<-tick.C
		for i, p := range parties {
			putHeader(pkt, false, 0, uint16(n), n*frameSamples, uint32(i+1))
			if _, err := p.WriteToUDPAddrPort(pkt, legs[i]); err == nil {
				sent++
			}
		}
	}
	tick.Stop()
	time.Sleep(300 * time.Millisecond) // the last relayed packets arrive
	for i := range parties {
		_ = parties[i].Close()
		_ = recorders[i].Close()
	}
	wg.Wait()
	res, _ := json.Marshal(loadgenResult{Sent: sent, RecvParty: recvP.Load(), RecvRecorder: recvR.Load()})
	fmt.Printf("%s\n", res)
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConferences runs N two-party conferences, each recorded to one
// recorder (both parties' streams), at the real packet rate (50 packets/s per
// party) for a few seconds, with the parties and recorders in a child process.
// It reports the packets the media server handled per second of its own CPU
// time (pkts/s/core), its CPU use, allocations per handled packet and the
// loss seen by parties and recorders.
func BenchmarkConferences(b *testing.B) {
	for _, n := range []int{100, 250, 500} {
		b.Run("conferences="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				runConferences(b, n, 4*time.Second)
			}
		})
	}
}

func runConferences(b *testing.B, n int, d time.Duration) {
	s, err := New(Config{SIP: Listen{UDP: "127.0.0.1:0"}, Transport: "udp", LocalDir: b.TempDir()}, WithLogger(testLogger()))
	require.NoError(b, err)
	s.advertise = netip.MustParseAddr("127.0.0.1")
	s.ports = newPortPool(s.advertise, PortRange{})
	var legs []*leg
	var recs []*outStream
	for i := range n {
		a, err := newLeg(s, "a"+strconv.Itoa(i), "", "udp")
		require.NoError(b, err)
		c, err := newLeg(s, "b"+strconv.Itoa(i), "", "udp")
		require.NoError(b, err)
		ra, err := s.ports.listen()
		require.NoError(b, err)
		rb, err := s.ports.listen()
		require.NoError(b, err)
		recA, recB := newOutStream(ra, audio.Ulaw), newOutStream(rb, audio.Ulaw)
		a.setSinks([]sink{c.toParty, recA})
		c.setSinks([]sink{a.toParty, recB})
		legs = append(legs, a, c)
		recs = append(recs, recA, recB)
	}
	defer func() {
		for _, l := range legs {
			l.closeMedia()
		}
		for _, r := range recs {
			_ = r.conn.Close()
		}
		s.wg.Wait()
	}()
	for _, l := range legs {
		l.start()
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadgenEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	cfg := loadgenConfig{Duration: int(d / time.Millisecond)}
	for _, l := range legs {
		cfg.Legs = append(cfg.Legs, l.local.String())
	}
	line, _ := json.Marshal(cfg)
	_, err = stdin.Write(append(line, '\n'))
	require.NoError(b, err)
	rd := bufio.NewReader(stdout)
	var addrs loadgenAddrs
	require.NoError(b, readJSONLine(rd, &addrs))
	for i, l := range legs {
		l.toParty.configure(netip.MustParseAddrPort(addrs.Parties[i]), audio.Ulaw, 101, true)
		recs[i].configure(netip.MustParseAddrPort(addrs.Recorders[i]), audio.Ulaw, 101, true)
	}

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, wall0 := cpuTime(), time.Now()
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(b, err)
	var res loadgenResult
	require.NoError(b, readJSONLine(rd, &res))
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	runtime.ReadMemStats(&ms1)

	var handled uint64
	for _, l := range legs {
		handled += l.rxPackets.Load()
	}
	expected := float64(res.Sent)
	b.ReportMetric(float64(handled)/cpu.Seconds(), "pkts/s/core")
	b.ReportMetric(float64(handled)/wall.Seconds(), "pkts/s")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%cpu")
	b.ReportMetric(float64(cpu.Microseconds())/float64(handled), "µs/pkt")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(handled), "allocs/pkt")
	b.ReportMetric(100*(1-float64(handled)/expected), "%loss-in")
	b.ReportMetric(100*(1-float64(res.RecvParty)/expected), "%loss-party")
	b.ReportMetric(100*(1-float64(res.RecvRecorder)/expected), "%loss-rec")
}

func readJSONLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return err
	}
	return json.Unmarshal(line, v)
}
