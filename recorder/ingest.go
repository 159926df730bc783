package recorder

import (
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/arlab/arlab/pkg/media"
	"github.com/arlab/arlab/pkg/sdp"
)

// maxDatagram is the largest RTP datagram accepted; the read buffer has one more byte so an
// oversize datagram is recognised (and dropped) instead of truncated.
const maxDatagram = 1500

// ingestStream is one received m-line: its socket (a media.Session), the timeline channel it
// feeds and the goroutine reading it.
type ingestStream struct {
	mline   int
	label   string
	ch      int // timeline channel
	conn    *net.UDPConn
	ms      *media.Session
	port    int
	srtp    bool
	offer   sdp.Media // last offered m-line
	answer  sdp.Media // last answered m-line
	done    chan struct{}
	started bool
	once    sync.Once
}

// start launches the read loop.
func (st *ingestStream) start(tl *Timeline) {
	st.started = true
	go st.run(tl)
}

// run is the stream's read loop: it ends when the session's socket is closed. It allocates
// nothing per packet: one buffer and one rtp.Packet are reused, the timeline copies the
// decoded samples.
func (st *ingestStream) run(tl *Timeline) {
	defer close(st.done)
	buf := make([]byte, maxDatagram+1)
	var pkt rtp.Packet
	for {
		if _, err := st.ms.ReadPacket(buf, &pkt); err != nil {
			return
		}
		tl.Push(st.ch, &pkt, time.Now())
	}
}

// drainTime is how long a stopping stream keeps reading what already reached its socket.
const drainTime = 40 * time.Millisecond

// drain lets the read loop take what already reached the socket (for up to drainTime) and
// then stop: the read deadline ends it.
func (st *ingestStream) drain(until time.Time) {
	if st.started {
		_ = st.conn.SetReadDeadline(until)
	}
}

// stop closes the socket (returning its port to pool once) and waits for the read loop, if
// it was started. Call drain first so audio that reached us before the BYE is recorded.
func (st *ingestStream) stop(pool *portPool) {
	if st.started {
		select {
		case <-st.done:
		case <-time.After(2 * drainTime):
		}
	}
	st.once.Do(func() {
		_ = st.ms.Close()
		pool.release(st.port)
	})
	if st.started {
		<-st.done
	}
}
