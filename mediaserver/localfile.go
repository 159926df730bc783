package mediaserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/arlab/arlab/pkg/wav"
)

// fileLag is how far behind real time the local file is written, so late
// packets still land in place on the timeline.
const fileLag = 120 * time.Millisecond

// localFile is a file: destination: the media server's own recording, one
// PCM16 channel per recorded party at 8 kHz, the format the recorder writes.
// Each party's audio is placed on a timeline by RTP timestamp; a writer
// goroutine takes 20 ms frames from all channels in step, so pauses and
// losses are silence of the right length. The header is valid after every
// flush (once a second).
type localFile struct {
	path     string
	dns      []string
	channels []*timeline
	w        *wav.Writer
	log      interface{ Warn(string, ...any) }
	// failed reports a write failure to the SIP Server (once).
	failed func(reason string)

	cancel context.CancelFunc
	done   chan struct{}
}

func newLocalFile(r *recording, dir string, dns []string) (*localFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, r.id+".wav")
	for i := 2; ; i++ {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		if i > 99 {
			return nil, fmt.Errorf("%s: too many recordings with this id", dir)
		}
		path = filepath.Join(dir, r.id+"-"+strconv.Itoa(i)+".wav")
	}
	w, err := wav.Create(path, wav.Header{Format: wav.PCM16, Channels: len(dns), SampleRate: sampleRate})
	if err != nil {
		return nil, err
	}
	start := nanotime()
	f := &localFile{path: path, dns: dns, w: w, log: r.log, done: make(chan struct{})}
	for range dns {
		f.channels = append(f.channels, newTimeline(start))
	}
	return f, nil
}

// channel returns the timeline of dn, or nil if dn is not recorded here.
func (f *localFile) channel(dn string) *timeline {
	for i, d := range f.dns {
		if d == dn {
			return f.channels[i]
		}
	}
	return nil
}

// setOpen opens or closes every channel (pause): under each timeline's lock,
// so no packet is written after a pause returns.
func (f *localFile) setOpen(open bool) {
	for _, t := range f.channels {
		t.mu.Lock()
		t.closed = !open
		t.mu.Unlock()
	}
}

// start runs the writer until parent ends (the recording stopped).
func (f *localFile) start(parent context.Context, wg *sync.WaitGroup) {
	ctx, cancel := context.WithCancel(parent)
	f.cancel = cancel
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(f.done)
		f.loop(ctx)
	}()
}

// stop finishes the file: everything up to now is written, then closed.
func (f *localFile) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
}

// abort removes a file whose recording never started.
func (f *localFile) abort() {
	_ = f.w.Close()
	_ = os.Remove(f.path)
}

func (f *localFile) loop(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var (
		frame     = make([]int16, frameSamples)
		inter     = make([]int16, frameSamples*len(f.channels))
		pos       int64
		lastFlush = time.Now()
		lag       = int64(fileLag) * sampleRate / int64(time.Second)
		failed    bool
	)
	write := func(upTo int64) {
		for pos+frameSamples <= upTo && !failed {
			for c, t := range f.channels {
				t.take(frame)
				for i, s := range frame {
					inter[i*len(f.channels)+c] = s
				}
			}
			if err := f.w.WriteFrames(inter); err != nil {
				f.log.Warn("local recording write failed; file stopped", "path", f.path, "error", err)
				failed = true
				if f.failed != nil {
					f.failed("local recording write failed: " + err.Error())
				}
			}
			pos += frameSamples
		}
	}
	now := func() int64 { return f.channels[0].samplesAt(nanotime()) }
	for {
		select {
		case <-ctx.Done():
			write(now())
			if err := f.w.Close(); err != nil {
				f.log.Warn("local recording close", "path", f.path, "error", err)
			}
			return
		case <-tick.C:
		}
		write(now() - lag)
		if time.Since(lastFlush) >= time.Second {
			lastFlush = time.Now()
			if err := f.w.Flush(); err != nil && !failed {
				f.log.Warn("local recording flush failed", "path", f.path, "error", err)
			}
		}
	}
}
