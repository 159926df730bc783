package wav

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// repairHeadLen is how much of the file Repair inspects for chunk headers.
const repairHeadLen = 64 << 10

// Repair fixes the header of a WAV whose writer died without a final Flush:
// the data (and fact) sizes are recomputed from the file length, a partial
// trailing frame is truncated away, and the RIFF size is patched. A file whose
// header is already consistent is left untouched. It returns the number of
// frames the file holds afterwards.
func Repair(path string) (frames int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("wav: repair: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("wav: repair: close: %w", cerr)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("wav: repair: %w", err)
	}
	size := st.Size()
	head := make([]byte, min(size, repairHeadLen))
	if _, err := io.ReadFull(f, head); err != nil {
		return 0, fmt.Errorf("wav: repair: read header: %w", err)
	}
	lay, err := findData(head)
	if err != nil {
		return 0, err
	}
	avail := size - lay.dataOff
	if avail < 0 {
		return 0, fmt.Errorf("%w: file ends inside the header", ErrMalformed)
	}
	block := int64(lay.h.BlockAlign())
	riff := int64(binary.LittleEndian.Uint32(head[riffSizeOffset:]))
	if riff == size-8 && lay.declaredData <= avail && lay.declaredData%block == 0 {
		return lay.declaredData / block, nil
	}

	frames = avail / block
	data := frames * block
	if data > maxDataBytes {
		frames = maxDataBytes / block
		data = frames * block
	}
	end := lay.dataOff + data
	pad := data % 2
	if err := f.Truncate(end + pad); err != nil {
		return 0, fmt.Errorf("wav: repair: truncate: %w", err)
	}
	var patch [4]byte
	writeU32 := func(off int64, v int64) error {
		binary.LittleEndian.PutUint32(patch[:], uint32(v))
		_, err := f.WriteAt(patch[:], off)
		return err
	}
	if pad == 1 {
		if _, err := f.WriteAt([]byte{0}, end); err != nil {
			return 0, fmt.Errorf("wav: repair: pad: %w", err)
		}
	}
	if err := writeU32(lay.dataSizeOff, data); err != nil {
		return 0, fmt.Errorf("wav: repair: patch data size: %w", err)
	}
	if lay.factOff >= 0 {
		if err := writeU32(lay.factOff, frames); err != nil {
			return 0, fmt.Errorf("wav: repair: patch fact: %w", err)
		}
	}
	if err := writeU32(riffSizeOffset, end+pad-8); err != nil {
		return 0, fmt.Errorf("wav: repair: patch RIFF size: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("wav: repair: sync: %w", err)
	}
	return frames, nil
}
