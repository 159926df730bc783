package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Format is the WAVE format tag (wFormatTag) of the audio data.
type Format uint16

// Supported formats. The values are the registered WAVE format tags.
const (
	PCM16 Format = 1 // WAVE_FORMAT_PCM, 16-bit signed little-endian samples
	ALaw  Format = 6 // WAVE_FORMAT_ALAW, 8-bit G.711 A-law
	ULaw  Format = 7 // WAVE_FORMAT_MULAW, 8-bit G.711 µ-law
)

// formatExtensible is WAVE_FORMAT_EXTENSIBLE; the reader accepts it when its
// sub-format is one of ours (some tools write it for multi-channel files).
const formatExtensible = 0xFFFE

// Limits.
const (
	MaxChannels       = 16
	DefaultSampleRate = 8000
	maxSampleRate     = 384000
	// maxDataBytes keeps the 32-bit RIFF size field from overflowing.
	maxDataBytes = 0xFFFFFFFF - 64
)

// Sentinel errors.
var (
	ErrFormat       = errors.New("wav: unsupported format")
	ErrHeader       = errors.New("wav: invalid header parameters")
	ErrPartialFrame = errors.New("wav: sample count is not a multiple of the channel count")
	ErrTooLarge     = errors.New("wav: data exceeds the 4 GiB RIFF limit")
	ErrClosed       = errors.New("wav: writer closed")
	ErrMalformed    = errors.New("wav: malformed file")
)

// String returns the conventional name of the format.
func (f Format) String() string {
	switch f {
	case PCM16:
		return "pcm16"
	case ALaw:
		return "alaw"
	case ULaw:
		return "ulaw"
	default:
		return fmt.Sprintf("format(%d)", uint16(f))
	}
}

// Header describes the audio stored in a WAV file.
type Header struct {
	Format     Format
	Channels   int
	SampleRate int // samples per second per channel; 0 means DefaultSampleRate (8000)
}

// bytesPerSample is the size of one sample of one channel.
func (f Format) bytesPerSample() int {
	if f == PCM16 {
		return 2
	}
	return 1
}

// normalized validates h and fills defaults.
func (h Header) normalized() (Header, error) {
	switch h.Format {
	case PCM16, ALaw, ULaw:
	default:
		return h, fmt.Errorf("%w: %v", ErrFormat, h.Format)
	}
	if h.Channels < 1 || h.Channels > MaxChannels {
		return h, fmt.Errorf("%w: %d channels (want 1..%d)", ErrHeader, h.Channels, MaxChannels)
	}
	if h.SampleRate == 0 {
		h.SampleRate = DefaultSampleRate
	}
	if h.SampleRate < 1 || h.SampleRate > maxSampleRate {
		return h, fmt.Errorf("%w: sample rate %d", ErrHeader, h.SampleRate)
	}
	return h, nil
}

// BlockAlign is the size in bytes of one frame (one sample of every channel).
func (h Header) BlockAlign() int { return h.Channels * h.Format.bytesPerSample() }

// duration converts a frame count to a duration at h's sample rate.
func (h Header) duration(frames int64) time.Duration {
	rate := h.SampleRate
	if rate <= 0 {
		rate = DefaultSampleRate
	}
	sec := frames / int64(rate)
	rem := frames % int64(rate)
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate)
}

// Header layout offsets of the files this package writes.
const (
	pcmHeaderLen   = 44
	g711HeaderLen  = 58
	riffSizeOffset = 4
	// For G.711 the fact sample count sits at 46 and the data size at 54.
	g711FactOffset     = 46
	g711DataSizeOffset = 54
	pcmDataSizeOffset  = 40
)

// layout returns the header length and the offset of the data size field.
func (h Header) layout() (headerLen, dataSizeOff int) {
	if h.Format == PCM16 {
		return pcmHeaderLen, pcmDataSizeOffset
	}
	return g711HeaderLen, g711DataSizeOffset
}

// encodeHeader writes the header for dataBytes of audio into dst, which must
// be at least headerLen bytes long, and returns the header length.
func (h Header) encodeHeader(dst []byte, dataBytes uint32) int {
	le := binary.LittleEndian
	hdrLen, _ := h.layout()
	blockAlign := h.BlockAlign()
	bits := 8 * h.Format.bytesPerSample()

	copy(dst[0:], "RIFF")
	le.PutUint32(dst[4:], uint32(hdrLen-8)+dataBytes)
	copy(dst[8:], "WAVE")
	copy(dst[12:], "fmt ")
	if h.Format == PCM16 {
		le.PutUint32(dst[16:], 16)
	} else {
		le.PutUint32(dst[16:], 18)
	}
	le.PutUint16(dst[20:], uint16(h.Format))
	le.PutUint16(dst[22:], uint16(h.Channels))
	le.PutUint32(dst[24:], uint32(h.SampleRate))
	le.PutUint32(dst[28:], uint32(h.SampleRate*blockAlign))
	le.PutUint16(dst[32:], uint16(blockAlign))
	le.PutUint16(dst[34:], uint16(bits))
	if h.Format == PCM16 {
		copy(dst[36:], "data")
		le.PutUint32(dst[40:], dataBytes)
		return pcmHeaderLen
	}
	le.PutUint16(dst[36:], 0) // cbSize
	copy(dst[38:], "fact")
	le.PutUint32(dst[42:], 4)
	le.PutUint32(dst[46:], dataBytes/uint32(blockAlign))
	copy(dst[50:], "data")
	le.PutUint32(dst[54:], dataBytes)
	return g711HeaderLen
}
