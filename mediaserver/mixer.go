package mediaserver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arlab/arlab/pkg/msml"
)

// mixLag is how far behind real time the mixer takes audio, so packets that
// arrive with jitter are already on the timelines.
const mixLag = 60 * time.Millisecond

// mixer feeds a monitoring supervisor the mix of both parties (G.711 decode,
// sum, encode), and in coach mode feeds the agent the mix of the customer
// and the supervisor. It owns one goroutine, ticking every 20 ms.
type mixer struct {
	conf    *conference
	sup     *leg
	mode    msml.JoinMode
	agentDN string

	mu     sync.Mutex
	inputs map[string]*timeline // by DN
	start  int64

	ctx     context.Context
	cancel  context.CancelFunc
	started atomic.Bool
	done    chan struct{}
}

func newMixer(c *conference, sup *leg, mode msml.JoinMode, agentDN string) *mixer {
	ctx, cancel := context.WithCancel(context.Background())
	return &mixer{
		conf: c, sup: sup, mode: mode, agentDN: agentDN,
		inputs: map[string]*timeline{},
		start:  nanotime(),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
}

func (m *mixer) coach() bool { return m.mode == msml.JoinCoach }

// input returns the timeline collecting dn's audio.
func (m *mixer) input(dn string) *timeline {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.inputs[dn]
	if !ok {
		t = newTimeline(m.start)
		m.inputs[dn] = t
	}
	return t
}

// loopUntilStopped is the mixer's goroutine.
func (m *mixer) loopUntilStopped() {
	defer close(m.done)
	m.loop(m.ctx)
}

// stop ends the goroutine and waits for it (if it ever ran).
func (m *mixer) stop() {
	m.cancel()
	if m.started.Load() {
		<-m.done
	}
}

// mixOut is one synthetic stream the mixer writes into a leg's toParty.
type mixOut struct {
	pkt     packet
	payload [frameSamples]byte
}

func newMixOut() *mixOut {
	var b [4]byte
	_, _ = rand.Read(b[:])
	o := &mixOut{}
	o.pkt.ssrc = binary.BigEndian.Uint32(b[:]) | 1
	o.pkt.kind = kindAudio
	return o
}

// send encodes pcm with the target's law and writes it as the next packet.
func (o *mixOut) send(to *leg, pcm []int16) {
	law := to.law()
	law.Encode(o.payload[:], pcm)
	o.pkt.law = law
	o.pkt.payload = o.payload[:]
	o.pkt.arrival = nanotime()
	to.toParty.write(&o.pkt)
	o.pkt.seq++
	o.pkt.ts += frameSamples
}

func (m *mixer) loop(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var (
		frames  = map[string][]int16{}
		mix     [frameSamples]int16
		toSup   = newMixOut()
		toAgent = newMixOut()
		pos     int64
	)
	lag := int64(mixLag) * sampleRate / int64(time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		target := (nanotime()-m.start)*sampleRate/int64(time.Second) - lag
		for pos+frameSamples <= target {
			m.mu.Lock()
			for dn, t := range m.inputs {
				f := frames[dn]
				if f == nil {
					f = make([]int16, frameSamples)
					frames[dn] = f
				}
				t.take(f)
			}
			m.mu.Unlock()
			m.conf.mu.Lock()
			parties := m.conf.partiesLocked()
			m.conf.mu.Unlock()

			// The supervisor hears every party.
			clear(mix[:])
			for _, p := range parties {
				addInto(mix[:], frames[p.dn])
			}
			toSup.send(m.sup, mix[:])
			if m.coach() {
				// The agent hears the customer and the supervisor; the customer
				// keeps hearing the agent alone (plain relay).
				for _, p := range parties {
					if p.dn != m.agentDN {
						continue
					}
					clear(mix[:])
					for _, o := range parties {
						if o.dn != m.agentDN {
							addInto(mix[:], frames[o.dn])
						}
					}
					addInto(mix[:], frames[m.sup.dn])
					toAgent.send(p, mix[:])
				}
			}
			pos += frameSamples
		}
	}
}

// addInto adds src to dst with saturation.
func addInto(dst, src []int16) {
	for i := range dst {
		if i >= len(src) {
			return
		}
		v := int32(dst[i]) + int32(src[i])
		switch {
		case v > 32767:
			v = 32767
		case v < -32768:
			v = -32768
		}
		dst[i] = int16(v)
	}
}
