package recorder

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/media"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
)

// ingestPair is a sender socket and the recorder-side ingest of one stream.
type ingestPair struct {
	tl   *Timeline
	st   *ingestStream
	send *media.Session
	buf  []byte
	pkt  rtp.Packet
}

func newIngestPair(tb testing.TB) *ingestPair {
	tb.Helper()
	pool := newPortPool(netip.MustParseAddr("127.0.0.1"), 0, 0)
	conn, err := pool.open()
	require.NoError(tb, err)
	ms, err := media.NewSession(media.Config{Conn: conn, MaxPacket: maxDatagram})
	require.NoError(tb, err)
	start := time.Now()
	tl := NewTimeline(TimelineConfig{Dir: tb.TempDir(), Start: start})
	ch, err := tl.AddChannel(ChannelInfo{}, start)
	require.NoError(tb, err)
	tl.SetCodecs(ch, map[uint8]string{0: "PCMU"})
	sc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(tb, err)
	send, err := media.NewSession(media.Config{Conn: sc, PayloadType: 0,
		Remote: conn.LocalAddr().(*net.UDPAddr).AddrPort()})
	require.NoError(tb, err)
	p := &ingestPair{tl: tl, send: send, buf: make([]byte, maxDatagram+1),
		st: &ingestStream{ch: ch, conn: conn, ms: ms, done: make(chan struct{})}}
	tb.Cleanup(func() {
		_ = send.Close()
		_ = ms.Close()
		_, _ = tl.Finish(time.Now())
	})
	return p
}

// one sends a packet and runs the ingest path on it: ReadPacket (socket, RTP parse, stats)
// and Timeline.Push (decode, place), plus the periodic Advance.
func (p *ingestPair) one(payload []byte, i int) error {
	if err := p.send.WriteFrame(payload, frameLen, false); err != nil {
		return err
	}
	if _, err := p.st.ms.ReadPacket(p.buf, &p.pkt); err != nil {
		return err
	}
	now := time.Now()
	p.tl.Push(p.st.ch, &p.pkt, now)
	if i%5 == 0 {
		return p.tl.Advance(now)
	}
	return nil
}

func TestIngestAllocatesNothing(t *testing.T) {
	p := newIngestPair(t)
	payload := make([]byte, frameLen)
	for i := range 10 { // warm-up: first packet anchors, first Advance creates the file
		require.NoError(t, p.one(payload, i))
	}
	i := 10
	allocs := testing.AllocsPerRun(300, func() {
		i++
		if err := p.one(payload, i); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs, "ingest hot path must not allocate")
}

// BenchmarkIngestPacket measures one packet through the recorder's ingest path over
// loopback (sender write included).
func BenchmarkIngestPacket(b *testing.B) {
	p := newIngestPair(b)
	payload := make([]byte, frameLen)
	audio.Ulaw.Encode(payload, make([]int16, frameLen))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.one(payload, i); err != nil {
			b.Fatal(err)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchInvite opens one two-stream SIPREC session without media and returns the answered
// RTP ports and the dialog.
func benchInvite(ctx context.Context, cli *sipgo.Client, contact sip.ContactHeader, target sip.Uri, n int) (*sipgo.DialogClientSession, []int, error) {
	offer := &sdp.Session{Origin: sdp.Origin{Username: "bench", SessionID: uint64(n + 1), SessionVersion: 1,
		Addr: netip.MustParseAddr("127.0.0.1")}, Addr: netip.MustParseAddr("127.0.0.1")}
	for i, label := range []string{"a", "b"} {
		o, err := sdp.NewOffer(sdp.OfferOptions{Addr: netip.MustParseAddr("127.0.0.1"), Port: 10000 + 2*i,
			Codecs: []sdp.Codec{sdp.PCMU}, Direction: sdp.SendOnly, Label: label})
		if err != nil {
			return nil, nil, err
		}
		offer.Media = append(offer.Media, o.Media[0])
	}
	md := siprec.BuildMetadata(fmt.Sprintf("bench-%d", n), []siprec.RecordingParty{{AOR: "sip:a@x", Label: "a"},
		{AOR: "sip:b@x", Label: "b"}}, siprec.CallData{CallUUID: fmt.Sprintf("BENCH-%d", n)}, time.Now())
	mdb, err := md.Marshal()
	if err != nil {
		return nil, nil, err
	}
	ct, body := siprec.BuildBody(offer.Marshal(), mdb)
	req := sip.NewRequest(sip.INVITE, target)
	req.SetBody(body)
	req.AppendHeader(sip.NewHeader("Content-Type", ct))
	req.AppendHeader(sip.NewHeader("Require", "siprec"))
	req.SetTransport("TCP")
	dua := sipgo.DialogUA{Client: cli, ContactHDR: contact}
	d, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		return nil, nil, err
	}
	if err := d.Ack(ctx); err != nil {
		return nil, nil, err
	}
	ans, err := sdp.Parse(d.InviteResponse.Body())
	if err != nil {
		return nil, nil, err
	}
	var ports []int
	for _, m := range ans.Media {
		ports = append(ports, m.Port)
	}
	return d, ports, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConcurrentRecordings is the capacity benchmark: RECORDER_BENCH_CALLS (1000)
// two-stream SIPREC recordings at once, each stream 50 packets/s (100,000 packets/s for
// 1000 calls) for RECORDER_BENCH_SECONDS (10), sent over loopback by one paced sender.
// It reports packets/s received, lost and late packets, and process CPU (sender included).
// Run: go test -run '^$' -bench ConcurrentRecordings -benchtime 1x ./recorder/
func BenchmarkConcurrentRecordings(b *testing.B) {
	calls := envInt("RECORDER_BENCH_CALLS", 1000)
	secs := envInt("RECORDER_BENCH_SECONDS", 10)
	for range b.N {
		b.StopTimer()
		cfg := Config{Name: "bench", DataDir: b.TempDir(), MaxSessions: calls + 10,
			JitterWindow: time.Duration(envInt("RECORDER_BENCH_WINDOW_MS", int(DefaultJitterWindow/time.Millisecond))) * time.Millisecond}
		cfg.SIP.TCP = "127.0.0.1:0"
		r, err := New(cfg, WithLogger(discard))
		require.NoError(b, err)
		require.NoError(b, r.Start(context.Background()))

		ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
		require.NoError(b, err)
		cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
		require.NoError(b, err)
		contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bench", Host: "127.0.0.1", Port: 5999}}
		target := sip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: int(r.SIPAddr("tcp").Port())}
		target.UriParams = sip.NewParams()
		target.UriParams.Add("transport", "tcp")

		setupStart := time.Now()
		dialogs := make([]*sipgo.DialogClientSession, calls)
		ports := make([][]int, calls)
		var wg sync.WaitGroup
		errs := make(chan error, calls)
		sem := make(chan struct{}, 16)
		for n := range calls {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				d, p, err := benchInvite(ctx, cli, contact, target, n)
				if err != nil {
					errs <- err
					return
				}
				dialogs[n], ports[n] = d, p
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(b, err)
		}
		setup := time.Since(setupStart)

		// One socket and one pre-built packet per stream; a single paced sender.
		type stream struct {
			conn *net.UDPConn
			pkt  []byte
		}
		var streams []stream
		payload := make([]byte, frameLen)
		audio.Ulaw.Encode(payload, make([]int16, frameLen))
		for n := range calls {
			for i, p := range ports[n] {
				c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
				require.NoError(b, err)
				pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(n*2 + i + 1)}, Payload: payload}
				raw, err := pkt.Marshal()
				require.NoError(b, err)
				streams = append(streams, stream{conn: c, pkt: raw})
			}
		}
		cpu0, wall0 := cpuTime(), time.Now()
		b.StartTimer()
		// Senders: a few goroutines, each pacing its share of the streams on the wall clock
		// (one goroutine cannot issue 100,000 sendto calls per second on this class of VM).
		const senders = 4
		ticks := secs * 50
		var sentTotal, laggedTotal int64
		var maxLag time.Duration
		var smu sync.Mutex
		var swg sync.WaitGroup
		begin := time.Now()
		for g := range senders {
			swg.Add(1)
			go func() {
				defer swg.Done()
				sent, lagged := 0, 0
				var worst time.Duration
				for tick := range ticks {
					next := begin.Add(time.Duration(tick) * 20 * time.Millisecond)
					time.Sleep(time.Until(next))
					lag := time.Since(next)
					worst = max(worst, lag)
					if lag > DefaultJitterWindow/2 {
						lagged++
					}
					for k := g; k < len(streams); k += senders {
						st := streams[k]
						seq := uint16(tick)
						st.pkt[2], st.pkt[3] = byte(seq>>8), byte(seq)
						ts := uint32(tick * frameLen)
						st.pkt[4], st.pkt[5], st.pkt[6], st.pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
						if _, err := st.conn.Write(st.pkt); err == nil {
							sent++
						}
					}
				}
				smu.Lock()
				sentTotal += int64(sent)
				laggedTotal += int64(lagged)
				maxLag = max(maxLag, worst)
				smu.Unlock()
			}()
		}
		swg.Wait()
		sent := int(sentTotal)
		time.Sleep(200 * time.Millisecond) // let the last packets in
		b.StopTimer()
		wall, cpu := time.Since(wall0), cpuTime()-cpu0

		var packets, lost, late int64
		for _, s := range r.liveSessions() {
			for _, c := range s.tl.Snapshot().Channels {
				packets += int64(c.Stats.Packets)
				lost += c.Stats.Lost
				late += int64(c.Stats.Late)
			}
		}
		for _, s := range streams {
			s.conn.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for _, d := range dialogs {
			_ = d.Bye(ctx)
			d.Close()
		}
		cancel()
		require.NoError(b, r.Close())
		ua.Close()

		b.ReportMetric(float64(calls), "calls")
		b.ReportMetric(float64(sent)/wall.Seconds(), "sent-pps")
		b.ReportMetric(float64(packets)/wall.Seconds(), "recv-pps")
		b.ReportMetric(float64(sent-int(packets)), "missing")
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(late), "late")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
		b.ReportMetric(setup.Seconds(), "setup-s")
		b.ReportMetric(float64(maxLag.Milliseconds()), "sender-max-lag-ms")
		b.ReportMetric(float64(laggedTotal), "sender-ticks-lagging")
	}
}
