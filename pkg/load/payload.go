package load

import (
	"sync"

	"github.com/arlab/arlab/pkg/audio"
)

// tonePayloads caches one 20 ms G.711 frame per tone. The lab tones are
// multiples of 50 Hz, so a 160-sample frame holds a whole number of cycles and
// the same frame repeated is a continuous tone: nothing is encoded per packet.
type tonePayloads struct {
	mu     sync.Mutex
	law    audio.Law
	frames map[float64][]byte
}

func newTonePayloads(law audio.Law) *tonePayloads {
	return &tonePayloads{law: law, frames: map[float64][]byte{}}
}

// forDN returns the frame of the tone a party with DN dn sends in the lab.
func (p *tonePayloads) forDN(dn string) []byte {
	return p.forFreq(audio.ToneForDN(dn))
}

func (p *tonePayloads) forFreq(freq float64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.frames[freq]; ok {
		return f
	}
	pcm := make([]int16, audio.FrameSamples)
	audio.NewTone(freq, 0).Read(pcm)
	frame := make([]byte, audio.FrameSamples)
	p.law.Encode(frame, pcm)
	p.frames[freq] = frame
	return frame
}
