package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/zaf/g711"
)

// bufSize is the writer's staging buffer. 16 KiB is ~1 s of stereo PCM16 at
// 8 kHz: large enough to batch many 20 ms packets per syscall, small enough
// that little is lost if the process dies between flushes.
const bufSize = 16 << 10

// Writer streams interleaved audio frames into a WAV file. It is safe for
// concurrent use (a recorder typically writes from its media goroutine and
// flushes from a timer); calls are serialized by a mutex.
type Writer struct {
	mu      sync.Mutex
	f       *os.File
	h       Header
	hdrLen  int
	buf     []byte
	n       int   // bytes staged in buf
	data    int64 // audio bytes accepted (written to f + staged)
	patched int64 // data size currently recorded in the on-disk header
	hdr     [g711HeaderLen]byte
	err     error // sticky write error
	closed  bool
}

// Create creates (or truncates) the file at path and returns a Writer for it.
func Create(path string, h Header) (*Writer, error) {
	h, err := h.normalized()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wav: create: %w", err)
	}
	w, err := NewWriter(f, h)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return w, nil
}

// NewWriter writes a new WAV into f, which must be a seekable regular file
// opened for reading and writing. f is truncated and written from offset 0.
// On success the Writer owns f (Close closes it); on error f is left open.
func NewWriter(f *os.File, h Header) (*Writer, error) {
	h, err := h.normalized()
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, h: h, buf: make([]byte, bufSize)}
	w.hdrLen = h.encodeHeader(w.hdr[:], 0)
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("wav: truncate: %w", err)
	}
	if _, err := f.WriteAt(w.hdr[:w.hdrLen], 0); err != nil {
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	if _, err := f.Seek(int64(w.hdrLen), io.SeekStart); err != nil {
		return nil, fmt.Errorf("wav: seek: %w", err)
	}
	return w, nil
}

// Header returns the (normalized) header the writer was created with.
func (w *Writer) Header() Header { return w.h }

// WriteFrames appends interleaved PCM16 samples: pcm holds frames*channels
// values, channel 0 first. For G.711 writers the samples are encoded with the
// writer's law. It does not allocate.
func (w *Writer) WriteFrames(pcm []int16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(len(pcm), len(pcm)*w.h.Format.bytesPerSample()); err != nil {
		return err
	}
	for len(pcm) > 0 {
		if w.n == len(w.buf) {
			if err := w.spill(); err != nil {
				return err
			}
		}
		room := w.buf[w.n:]
		switch w.h.Format {
		case PCM16:
			k := min(len(pcm), len(room)/2)
			for i, s := range pcm[:k] {
				binary.LittleEndian.PutUint16(room[2*i:], uint16(s))
			}
			w.n += 2 * k
			pcm = pcm[k:]
		case ULaw:
			k := min(len(pcm), len(room))
			for i, s := range pcm[:k] {
				room[i] = g711.EncodeUlawFrame(s)
			}
			w.n += k
			pcm = pcm[k:]
		default: // ALaw
			k := min(len(pcm), len(room))
			for i, s := range pcm[:k] {
				room[i] = g711.EncodeAlawFrame(s)
			}
			w.n += k
			pcm = pcm[k:]
		}
	}
	return nil
}

// WriteEncoded appends already-encoded interleaved G.711 bytes (one byte per
// sample, channel 0 first) to an A-law or µ-law writer. It does not allocate.
func (w *Writer) WriteEncoded(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h.Format == PCM16 {
		return fmt.Errorf("%w: WriteEncoded needs an A-law or µ-law writer", ErrFormat)
	}
	if err := w.check(len(b), len(b)); err != nil {
		return err
	}
	for len(b) > 0 {
		if w.n == len(w.buf) {
			if err := w.spill(); err != nil {
				return err
			}
		}
		k := copy(w.buf[w.n:], b)
		w.n += k
		b = b[k:]
	}
	return nil
}

// check validates a write of samples values taking size bytes and accounts it.
func (w *Writer) check(samples, size int) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if samples%w.h.Channels != 0 {
		return ErrPartialFrame
	}
	if w.data+int64(size) > maxDataBytes {
		return ErrTooLarge
	}
	w.data += int64(size)
	return nil
}

// spill writes the staged bytes to the file without touching the header.
func (w *Writer) spill() error {
	if w.n == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf[:w.n]); err != nil {
		w.err = fmt.Errorf("wav: write: %w", err)
		return w.err
	}
	w.n = 0
	return nil
}

// Flush writes staged audio and patches the header sizes so the file on disk
// is a complete, valid WAV holding everything written so far. It does not
// fsync: the data survives a process crash, not a power loss (see Sync).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.flushLocked(false)
}

// Sync flushes and then fsyncs the file, for callers that need durability
// against power loss.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.flushLocked(false); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("wav: sync: %w", err)
	}
	return nil
}

func (w *Writer) flushLocked(pad bool) error {
	if w.err != nil {
		return w.err
	}
	if err := w.spill(); err != nil {
		return err
	}
	if w.data == w.patched && !pad {
		return nil
	}
	w.h.encodeHeader(w.hdr[:], uint32(w.data))
	if pad {
		// RIFF chunks are word aligned: an odd data chunk is followed by one
		// pad byte that counts in the RIFF size but not in the data size.
		binary.LittleEndian.PutUint32(w.hdr[riffSizeOffset:], uint32(int64(w.hdrLen-8)+w.data+1))
	}
	if _, err := w.f.WriteAt(w.hdr[:w.hdrLen], 0); err != nil {
		w.err = fmt.Errorf("wav: patch header: %w", err)
		return w.err
	}
	w.patched = w.data
	return nil
}

// Frames returns the number of frames written so far (flushed or not).
func (w *Writer) Frames() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.data / int64(w.h.BlockAlign())
}

// Duration returns the audio duration written so far.
func (w *Writer) Duration() time.Duration {
	return w.h.duration(w.Frames())
}

// Close flushes, adds the RIFF pad byte if the data size is odd, and closes
// the file. Closing twice is a no-op.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	pad := w.data%2 == 1
	var errs []error
	if pad && w.err == nil && w.n == len(w.buf) {
		if err := w.spill(); err != nil {
			errs = append(errs, err)
		}
	}
	if pad && w.err == nil {
		w.buf[w.n] = 0 // staged after the audio; not counted in w.data
		w.n++
	}
	if err := w.flushLocked(pad); err != nil {
		errs = append(errs, err)
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("wav: close: %w", err))
	}
	return errors.Join(errs...)
}
