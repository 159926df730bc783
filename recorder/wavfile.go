package recorder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/arlab/arlab/pkg/wav"
)

// createWAV is the default writerFactory: PCM16, 8 kHz.
func createWAV(path string, channels int) (pcmWriter, error) {
	return wav.Create(path, wav.Header{Format: wav.PCM16, Channels: channels, SampleRate: sampleRate})
}

var errNotPCM16 = errors.New("not a PCM16 WAV")

// pcmData locates the interleaved PCM16 data of a WAV file written by the timeline.
type pcmData struct {
	channels int
	offset   int64
	frames   int64
}

// openPCMData walks the RIFF chunks of f (tolerating unknown chunks) and returns where the
// data is. The data size comes from the file length when the header disagrees (a file
// whose header was not patched yet).
func openPCMData(f *os.File) (pcmData, error) {
	st, err := f.Stat()
	if err != nil {
		return pcmData{}, err
	}
	var hdr [12]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return pcmData{}, fmt.Errorf("%w: %v", errNotPCM16, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return pcmData{}, errNotPCM16
	}
	var d pcmData
	off := int64(12)
	for off+8 <= st.Size() {
		var ch [8]byte
		if _, err := f.ReadAt(ch[:], off); err != nil {
			return pcmData{}, err
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		body := off + 8
		switch string(ch[0:4]) {
		case "fmt ":
			var fm [16]byte
			if size < 16 {
				return pcmData{}, errNotPCM16
			}
			if _, err := f.ReadAt(fm[:], body); err != nil {
				return pcmData{}, err
			}
			if tag := binary.LittleEndian.Uint16(fm[0:2]); tag != 1 || binary.LittleEndian.Uint16(fm[14:16]) != 16 {
				return pcmData{}, errNotPCM16
			}
			d.channels = int(binary.LittleEndian.Uint16(fm[2:4]))
		case "data":
			if d.channels <= 0 {
				return pcmData{}, errNotPCM16
			}
			avail := st.Size() - body
			if size == 0 || size > avail {
				size = avail
			}
			d.offset = body
			d.frames = size / int64(2*d.channels)
			return d, nil
		}
		off = body + size + size%2
	}
	return pcmData{}, fmt.Errorf("%w: no data chunk", errNotPCM16)
}

// mergeSegments concatenates the segment files (in order; the first is audio.wav) into
// audio.wav with `channels` channels, padding channels a segment lacks with silence. It
// writes a temporary file and renames it over audio.wav, then removes the other segments,
// so a crash at any point leaves either the segments or the merged file.
func mergeSegments(dir string, segments []string, channels int) error {
	tmp := filepath.Join(dir, "audio.merge.tmp")
	w, err := createWAV(tmp, channels)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	for _, name := range segments {
		if err := appendSegment(w, filepath.Join(dir, name), channels); err != nil {
			_ = w.Close()
			_ = os.Remove(tmp)
			return fmt.Errorf("merge %s: %w", name, err)
		}
	}
	if err := w.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("merge: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, AudioFile)); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	for _, name := range segments {
		if name != AudioFile {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	return nil
}

func appendSegment(w pcmWriter, path string, channels int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := openPCMData(f)
	if err != nil {
		return err
	}
	if d.channels > channels {
		return fmt.Errorf("segment has %d channels, more than %d", d.channels, channels)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, d.offset, d.frames*int64(2*d.channels)), 64<<10)
	const chunk = 1024
	in := make([]byte, chunk*2*d.channels)
	out := make([]int16, chunk*channels)
	for left := d.frames; left > 0; {
		n := min(left, chunk)
		b := in[:n*int64(2*d.channels)]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		o := out[:n*int64(channels)]
		clear(o)
		for i := range int(n) {
			for c := range d.channels {
				o[i*channels+c] = int16(binary.LittleEndian.Uint16(b[(i*d.channels+c)*2:]))
			}
		}
		if err := w.WriteFrames(o); err != nil {
			return err
		}
		left -= n
	}
	return nil
}
