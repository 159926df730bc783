package wav

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunk builds a RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	out := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return chunk("RIFF", body)
}

func fmtBody(tag uint16, channels, rate, bits int) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], tag)
	le.PutUint16(b[2:], uint16(channels))
	le.PutUint32(b[4:], uint32(rate))
	le.PutUint32(b[8:], uint32(rate*channels*bits/8))
	le.PutUint16(b[12:], uint16(channels*bits/8))
	le.PutUint16(b[14:], uint16(bits))
	return b
}

func extensibleBody(sub uint16, channels, bits int) []byte {
	b := fmtBody(formatExtensible, channels, 8000, bits)
	ext := make([]byte, 24)
	binary.LittleEndian.PutUint16(ext[0:], 22)
	binary.LittleEndian.PutUint16(ext[2:], uint16(bits))
	binary.LittleEndian.PutUint16(ext[8:], sub)
	return append(b, ext...)
}

func pcmBytes(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

func TestReadTolerance(t *testing.T) {
	stereo := pcmBytes(1, -1, 2, -2, 3, -3)
	unpatched := chunk("data", stereo)
	binary.LittleEndian.PutUint32(unpatched[4:], 0) // streaming writer never patched

	tests := []struct {
		name    string
		in      []byte
		want    *File
		wantErr error
	}{
		{
			name: "LIST and JUNK before data",
			in: riff(chunk("fmt ", fmtBody(1, 2, 8000, 16)), chunk("LIST", []byte("INFOISFT\x03\x00\x00\x00abc")),
				chunk("JUNK", make([]byte, 5)), chunk("data", stereo)),
			want: &File{Header: Header{PCM16, 2, 8000}, Frames: 3, Samples: [][]int16{{1, 2, 3}, {-1, -2, -3}}},
		},
		{
			name: "data size 0 means until EOF",
			in:   riff(chunk("fmt ", fmtBody(1, 2, 8000, 16)), unpatched),
			want: &File{Header: Header{PCM16, 2, 8000}, Frames: 3, Samples: [][]int16{{1, 2, 3}, {-1, -2, -3}}},
		},
		{
			name: "declared size larger than the stream",
			in: func() []byte {
				b := riff(chunk("fmt ", fmtBody(1, 1, 16000, 16)), chunk("data", pcmBytes(5, 6)))
				binary.LittleEndian.PutUint32(b[len(b)-8:], 1000)
				return b
			}(),
			want: &File{Header: Header{PCM16, 1, 16000}, Frames: 2, Samples: [][]int16{{5, 6}}},
		},
		{
			name: "partial trailing frame dropped",
			in:   riff(chunk("fmt ", fmtBody(1, 2, 8000, 16)), chunk("data", append(pcmBytes(7, 8), 9))),
			want: &File{Header: Header{PCM16, 2, 8000}, Frames: 1, Samples: [][]int16{{7}, {8}}},
		},
		{
			name: "extensible PCM",
			in:   riff(chunk("fmt ", extensibleBody(1, 1, 16)), chunk("data", pcmBytes(42))),
			want: &File{Header: Header{PCM16, 1, 8000}, Frames: 1, Samples: [][]int16{{42}}},
		},
		{
			name: "ulaw with fact chunk",
			in: riff(chunk("fmt ", append(fmtBody(7, 1, 8000, 8), 0, 0)), chunk("fact", []byte{1, 0, 0, 0}),
				chunk("data", []byte{0xFF})),
			want: &File{Header: Header{ULaw, 1, 8000}, Frames: 1, Samples: [][]int16{{0}}},
		},
		{name: "not RIFF", in: []byte("RIFX\x00\x00\x00\x00WAVE"), wantErr: ErrMalformed},
		{name: "empty", in: nil, wantErr: ErrMalformed},
		{name: "no data chunk", in: riff(chunk("fmt ", fmtBody(1, 1, 8000, 16))), wantErr: ErrMalformed},
		{name: "data before fmt", in: riff(chunk("data", pcmBytes(1))), wantErr: ErrMalformed},
		{name: "24-bit PCM unsupported", in: riff(chunk("fmt ", fmtBody(1, 1, 8000, 24)), chunk("data", nil)), wantErr: ErrFormat},
		{name: "IEEE float unsupported", in: riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", nil)), wantErr: ErrFormat},
		{name: "too many channels", in: riff(chunk("fmt ", fmtBody(1, 40, 8000, 16)), chunk("data", nil)), wantErr: ErrMalformed},
		{name: "zero sample rate", in: riff(chunk("fmt ", fmtBody(1, 1, 0, 16)), chunk("data", nil)), wantErr: ErrMalformed},
		{name: "short fmt", in: riff(chunk("fmt ", make([]byte, 8)), chunk("data", nil)), wantErr: ErrMalformed},
		{
			name: "huge unknown chunk",
			in: func() []byte {
				c := chunk("LIST", nil)
				binary.LittleEndian.PutUint32(c[4:], 0x7FFFFFFF)
				return riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), c)
			}(),
			wantErr: ErrMalformed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tc.in))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReadGoldenFiles(t *testing.T) {
	// The golden files are what this package writes; reading them back pins
	// both directions of the format.
	for _, f := range []Format{PCM16, ULaw, ALaw} {
		got, err := ReadFile(filepath.Join("testdata", "golden", f.String()+"_stereo_5frames.wav"))
		require.NoError(t, err, f)
		assert.Equal(t, Header{f, 2, 8000}, got.Header)
		assert.Equal(t, expected(f, tone(5, 2, 0), 2), got.Samples)
	}
	_, err := ReadFile(filepath.Join("testdata", "nope.wav"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzRead(f *testing.F) {
	for _, name := range []string{"pcm16", "ulaw", "alaw"} {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+"_stereo_5frames.wav"))
		if err == nil {
			f.Add(b)
		}
	}
	f.Add(riff(chunk("fmt ", extensibleBody(6, 3, 8)), chunk("data", []byte{1, 2, 3, 4})))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt "))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever decodes must be self-consistent and bounded by the input.
		if got.Frames*int64(got.Header.BlockAlign()) > int64(len(b)) {
			t.Fatalf("%d frames from %d bytes", got.Frames, len(b))
		}
		if len(got.Samples) != got.Header.Channels {
			t.Fatalf("%d channel slices for %d channels", len(got.Samples), got.Header.Channels)
		}
	})
}

func FuzzRepair(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "ulaw_stereo_5frames.wav"))
	if err == nil {
		f.Add(b)
		f.Add(append(b[:len(b):len(b)], 1, 2, 3))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "f.wav")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		frames, err := Repair(path)
		if err != nil {
			return
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatalf("repaired file unreadable: %v", err)
		}
		if got.Frames != frames {
			t.Fatalf("Repair says %d frames, Read finds %d", frames, got.Frames)
		}
	})
}
