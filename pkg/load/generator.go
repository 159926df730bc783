package load

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Generator geometry. A stream sends one packet every framePeriod; the wheel
// has one slot per tick, so a stream keeps its slot forever and every tick
// touches only the streams due in it.
const (
	framePeriod    = 20 * time.Millisecond
	defaultTick    = 2 * time.Millisecond
	defaultBatch   = 64
	rtpHeaderLen   = 12
	maxDatagram    = 1500
	socketBufBytes = 4 << 20
	// schedulerNice is the nice value asked for the scheduler thread.
	schedulerNice = -10
)

// ErrGeneratorClosed is returned for streams created after Close.
var ErrGeneratorClosed = errors.New("load: generator closed")

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// LocalIP is the address the sockets bind to (port 0).
	LocalIP netip.Addr
	// Sockets is how many UDP sockets the streams share (default 4).
	Sockets int
	// Batch is the most packets per sendmmsg call (default 64).
	Batch int
	// Tick is the scheduler period; it must divide 20 ms (default 2 ms).
	Tick   time.Duration
	Logger *slog.Logger
}

// GeneratorStats are a Generator's totals so far.
type GeneratorStats struct {
	Streams    int // active now
	Sent       uint64
	SendErrors uint64
	Received   uint64
	// Unmatched counts received datagrams from no stream's remote (or not RTP).
	Unmatched uint64
	// MaxLag is the worst delay of a packet behind its due time: how far the
	// scheduler ever fell behind (the recorder's jitter window tolerates up to
	// its window before counting packets late).
	MaxLag time.Duration
	// MaxTick is the longest scheduler iteration, wall time. A MaxLag far
	// above MaxTick means the scheduler was not given a CPU in time.
	MaxTick time.Duration
	// CPU is the scheduler thread's CPU time (user + system, including the
	// kernel's work in sendmmsg), as of its last tick.
	CPU time.Duration
}

// batchWriter is ipv4.PacketConn or ipv6.PacketConn (their Message types are
// the same type).
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// rtpSocket is one shared UDP socket with its pending batch. Only the
// scheduler goroutine touches the batch.
type rtpSocket struct {
	conn   *net.UDPConn
	bw     batchWriter
	port   int
	msgs   []ipv4.Message
	iov    [][]byte // two per message: header, payload
	hdrs   [][rtpHeaderLen]byte
	owners []*Stream
	n      int
}

// Generator sends the RTP of many streams from one scheduler goroutine over a
// few shared sockets, with batched sends. Create streams with NewStream, start
// them when the far end's address is known, stop them to get their counts.
type Generator struct {
	log    *slog.Logger
	socks  []*rtpSocket
	base   time.Time
	tick   int64
	period int64
	slots  [][]*Stream

	mu     sync.Mutex
	ops    []genOp
	spare  []genOp
	closed bool
	rr     int

	recvMu   sync.RWMutex
	byRemote map[netip.AddrPort]*Stream

	quit      chan struct{}
	done      chan struct{}
	readers   sync.WaitGroup
	closeOnce sync.Once

	// Scheduler state.
	lastTick int64
	started  []*Stream

	active                          atomic.Int64
	sent, sendErrs, recv, unmatched atomic.Uint64
	maxLag, maxTick                 atomic.Int64
	cpu                             atomic.Int64 // the scheduler thread's CPU time, ns
}

type genOp struct {
	st    *Stream
	start bool
}

// NewGenerator binds the sockets and starts the scheduler and the readers.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	g, err := newGenerator(cfg)
	if err != nil {
		return nil, err
	}
	go g.run()
	return g, nil
}

// newGenerator builds a generator without its scheduler goroutine (the
// benchmarks drive emitDue themselves).
func newGenerator(cfg GeneratorConfig) (*Generator, error) {
	if cfg.Sockets <= 0 {
		cfg.Sockets = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.Tick <= 0 {
		cfg.Tick = defaultTick
	}
	if framePeriod%cfg.Tick != 0 {
		return nil, fmt.Errorf("%w: generator tick %v does not divide %v", ErrConfig, cfg.Tick, framePeriod)
	}
	if !cfg.LocalIP.IsValid() {
		cfg.LocalIP = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Generator{
		log:      cfg.Logger,
		base:     time.Now(),
		tick:     int64(cfg.Tick),
		period:   int64(framePeriod),
		slots:    make([][]*Stream, framePeriod/cfg.Tick),
		byRemote: map[netip.AddrPort]*Stream{},
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		lastTick: -1,
	}
	for range cfg.Sockets {
		s, err := newRTPSocket(cfg.LocalIP, cfg.Batch)
		if err != nil {
			for _, s := range g.socks {
				_ = s.conn.Close()
			}
			return nil, err
		}
		g.socks = append(g.socks, s)
	}
	for _, s := range g.socks {
		g.readers.Add(1)
		go g.read(s)
	}
	return g, nil
}

func newRTPSocket(ip netip.Addr, batch int) (*rtpSocket, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("load: RTP socket: %w", err)
	}
	// Best effort: a full send buffer only delays the scheduler, a full receive
	// buffer drops what the far end sends (nothing in recorder mode).
	_ = conn.SetWriteBuffer(socketBufBytes)
	_ = conn.SetReadBuffer(socketBufBytes)
	s := &rtpSocket{
		conn:   conn,
		port:   conn.LocalAddr().(*net.UDPAddr).Port,
		msgs:   make([]ipv4.Message, batch),
		iov:    make([][]byte, 2*batch),
		hdrs:   make([][rtpHeaderLen]byte, batch),
		owners: make([]*Stream, batch),
	}
	if ip.Is4() {
		s.bw = ipv4.NewPacketConn(conn)
	} else {
		s.bw = ipv6.NewPacketConn(conn)
	}
	for i := range s.msgs {
		s.msgs[i].Buffers = s.iov[2*i : 2*i+2]
	}
	return s, nil
}

// enqueue hands an operation to the scheduler; false once closed.
func (g *Generator) enqueue(op genOp) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.ops = append(g.ops, op)
	return true
}

// Stats returns the generator's totals.
func (g *Generator) Stats() GeneratorStats {
	return GeneratorStats{
		Streams: int(g.active.Load()), Sent: g.sent.Load(), SendErrors: g.sendErrs.Load(),
		Received: g.recv.Load(), Unmatched: g.unmatched.Load(), MaxLag: time.Duration(g.maxLag.Load()),
		MaxTick: time.Duration(g.maxTick.Load()), CPU: time.Duration(g.cpu.Load()),
	}
}

// threadCPU is the calling thread's CPU time (the scheduler calls it on its
// locked thread).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Close stops the scheduler (every stream stops), closes the sockets and waits
// for every goroutine. Idempotent.
func (g *Generator) Close() error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		close(g.quit)
		<-g.done
		for _, s := range g.socks {
			_ = s.conn.Close()
		}
		g.readers.Wait()
	})
	return nil
}

// run is the scheduler goroutine. It keeps an OS thread to itself: the
// pacing of every stream depends on it being scheduled on time, and its
// thread's CPU time is the generator's own cost (Stats.CPU). The thread ends
// with the goroutine.
func (g *Generator) run() {
	defer close(g.done)
	runtime.LockOSThread()
	// The thread may have run other goroutines before: count from here.
	cpu0 := threadCPU()
	// Best effort: a higher priority for this thread (CAP_SYS_NICE or root), so
	// the scheduler is woken on time when the services under test keep the
	// CPUs busy; their lateness, not the generator's, is what a run measures.
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), schedulerNice); err != nil {
		g.log.Debug("generator thread keeps its priority", "err", err)
	}
	t := time.NewTicker(time.Duration(g.tick))
	defer t.Stop()
	for {
		select {
		case <-g.quit:
			g.release()
			return
		case <-t.C:
		}
		now := g.now()
		g.applyOps(now)
		g.emitDue(now)
		if d := g.now() - now; d > g.maxTick.Load() {
			g.maxTick.Store(d)
		}
		g.cpu.Store(int64(threadCPU() - cpu0))
	}
}

func (g *Generator) now() int64 { return int64(time.Since(g.base)) }

// release ends every stream at Close: pending stops are answered and active
// streams count as stopped.
func (g *Generator) release() {
	g.mu.Lock()
	ops := g.ops
	g.ops = nil
	g.mu.Unlock()
	for _, op := range ops {
		if !op.start {
			closeOnce(op.st.stopped)
		}
	}
	for i, slot := range g.slots {
		for _, st := range slot {
			closeOnce(st.stopped)
		}
		g.slots[i] = nil
	}
	g.active.Store(0)
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// applyOps adds and removes streams. New streams send their first packet in
// this tick.
func (g *Generator) applyOps(now int64) {
	g.mu.Lock()
	ops := g.ops
	g.ops, g.spare = g.spare[:0], ops
	g.mu.Unlock()
	if len(ops) == 0 {
		return
	}
	g.started = g.started[:0]
	for i := range ops {
		op := &ops[i]
		st := op.st
		if op.start {
			st.next = now
			st.slot = int((now / g.tick) % int64(len(g.slots)))
			st.idx = len(g.slots[st.slot])
			g.slots[st.slot] = append(g.slots[st.slot], st)
			g.active.Add(1)
			g.started = append(g.started, st)
		} else {
			if st.idx >= 0 && st.idx < len(g.slots[st.slot]) && g.slots[st.slot][st.idx] == st {
				g.flushAll() // its queued packets are sent before it counts as stopped
				slot := g.slots[st.slot]
				last := len(slot) - 1
				slot[st.idx] = slot[last]
				slot[st.idx].idx = st.idx
				slot[last] = nil
				g.slots[st.slot] = slot[:last]
				st.idx = -1
				g.active.Add(-1)
			}
			closeOnce(st.stopped)
		}
		op.st = nil
	}
	for _, st := range g.started {
		if st.idx >= 0 {
			g.emitStream(st, now+1, now)
		}
	}
	clear(g.started)
}
