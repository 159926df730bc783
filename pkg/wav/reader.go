package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zaf/g711"
)

// MaxReadBytes bounds the audio Read loads into memory (1 GiB). A data chunk
// that claims more is read only up to this limit.
const MaxReadBytes = 1 << 30

// maxChunkSkip bounds how much of an unknown chunk is skipped before the
// reader gives up looking for "data" (real files carry small LIST/JUNK chunks).
const maxChunkSkip = 16 << 20

// File is a decoded WAV file.
type File struct {
	Header  Header
	Samples [][]int16 // per channel; G.711 is decoded to PCM16
	Frames  int64
}

// Duration returns the audio duration of the file.
func (f *File) Duration() time.Duration { return f.Header.duration(f.Frames) }

// ReadFile reads and decodes the WAV file at path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wav: open: %w", err)
	}
	defer fh.Close()
	return Read(fh)
}

// Read decodes a WAV stream. It is tolerant of what real writers produce:
// unknown chunks (LIST, JUNK, bext...) are skipped, a data size of 0 or one
// larger than the stream (a streaming writer that never patched its header)
// means "until EOF", a trailing partial frame is dropped, and
// WAVE_FORMAT_EXTENSIBLE is accepted when its sub-format is PCM, A-law or µ-law.
func Read(r io.Reader) (*File, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, fmt.Errorf("%w: short RIFF header: %w", ErrMalformed, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE stream", ErrMalformed)
	}
	var (
		h      Header
		haveFm bool
	)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("%w: no data chunk: %w", ErrMalformed, err)
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrMalformed, size)
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, fmt.Errorf("%w: short fmt chunk: %w", ErrMalformed, err)
			}
			fh, err := parseFmt(body[:size])
			if err != nil {
				return nil, err
			}
			h, haveFm = fh, true
		case "data":
			if !haveFm {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrMalformed)
			}
			if size == 0 || size == 0xFFFFFFFF {
				size = MaxReadBytes // unpatched streaming header: read to EOF
			}
			data, err := io.ReadAll(io.LimitReader(r, min(size, MaxReadBytes)))
			if err != nil {
				return nil, fmt.Errorf("wav: read data: %w", err)
			}
			return decode(h, data), nil
		default:
			if size > maxChunkSkip {
				return nil, fmt.Errorf("%w: %q chunk of %d bytes", ErrMalformed, id, size)
			}
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return nil, fmt.Errorf("%w: short %q chunk: %w", ErrMalformed, id, err)
			}
		}
	}
}

// parseFmt decodes a fmt chunk body.
func parseFmt(b []byte) (Header, error) {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:])
	channels := int(le.Uint16(b[2:]))
	rate := int(le.Uint32(b[4:]))
	bits := int(le.Uint16(b[14:]))
	if tag == formatExtensible {
		// WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) mask(4) subformat GUID(16);
		// the GUID's first two bytes are the real format tag.
		if len(b) < 40 {
			return Header{}, fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE", ErrMalformed)
		}
		tag = le.Uint16(b[24:])
	}
	h := Header{Format: Format(tag), Channels: channels, SampleRate: rate}
	switch {
	case h.Format == PCM16 && bits == 16:
	case (h.Format == ALaw || h.Format == ULaw) && bits == 8:
	default:
		return Header{}, fmt.Errorf("%w: tag %d with %d bits per sample", ErrFormat, tag, bits)
	}
	if rate == 0 {
		return Header{}, fmt.Errorf("%w: sample rate 0", ErrMalformed)
	}
	n, err := h.normalized()
	if err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return n, nil
}

// decode de-interleaves data into per-channel PCM16, dropping a partial
// trailing frame.
func decode(h Header, data []byte) *File {
	frames := len(data) / h.BlockAlign()
	f := &File{Header: h, Frames: int64(frames), Samples: make([][]int16, h.Channels)}
	for c := range f.Samples {
		f.Samples[c] = make([]int16, frames)
	}
	bps := h.Format.bytesPerSample()
	for i := 0; i < frames; i++ {
		frame := data[i*h.BlockAlign():]
		for c := 0; c < h.Channels; c++ {
			switch h.Format {
			case PCM16:
				f.Samples[c][i] = int16(binary.LittleEndian.Uint16(frame[c*bps:]))
			case ULaw:
				f.Samples[c][i] = g711.DecodeUlawFrame(frame[c])
			case ALaw:
				f.Samples[c][i] = g711.DecodeAlawFrame(frame[c])
			}
		}
	}
	return f
}

// errNotOurs is returned by findData when the layout is not one Repair handles.
var errNotOurs = errors.New("wav: no data chunk")

// chunkLayout locates the fmt header and the data chunk in the first bytes of
// a file (head) so Repair can patch sizes in place.
type chunkLayout struct {
	h            Header
	dataSizeOff  int64 // offset of the data chunk's size field
	dataOff      int64 // offset of the first audio byte
	declaredData int64
	factOff      int64 // offset of the fact sample count, -1 if none
}

func findData(head []byte) (chunkLayout, error) {
	lay := chunkLayout{factOff: -1}
	if len(head) < 12 || !bytes.Equal(head[0:4], []byte("RIFF")) || !bytes.Equal(head[8:12], []byte("WAVE")) {
		return lay, fmt.Errorf("%w: not a RIFF/WAVE file", ErrMalformed)
	}
	off := int64(12)
	haveFmt := false
	for off+8 <= int64(len(head)) {
		id := string(head[off : off+4])
		size := int64(binary.LittleEndian.Uint32(head[off+4:]))
		body := off + 8
		switch id {
		case "fmt ":
			if size < 16 || body+size > int64(len(head)) {
				return lay, fmt.Errorf("%w: bad fmt chunk", ErrMalformed)
			}
			h, err := parseFmt(head[body : body+size])
			if err != nil {
				return lay, err
			}
			lay.h, haveFmt = h, true
		case "fact":
			if size >= 4 {
				lay.factOff = body
			}
		case "data":
			if !haveFmt {
				return lay, fmt.Errorf("%w: data chunk before fmt chunk", ErrMalformed)
			}
			lay.dataSizeOff = off + 4
			lay.dataOff = body
			lay.declaredData = size
			return lay, nil
		}
		off = body + size + size%2
	}
	return lay, fmt.Errorf("%w: %w", ErrMalformed, errNotOurs)
}
