package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arlab/arlab/pkg/wav"
)

// recoverAll repairs every recording that was live when the recorder stopped without
// finishing it (crash, SIGKILL, power loss): WAV headers are fixed from the file length,
// segments are merged, and recording/paused recordings become `recovered`. A tentative
// pre-recording stays tentative (its keep/discard decision is still pending) with a grace
// deadline. It returns the number of recordings repaired.
func recoverAll(ctx context.Context, st *Store, log *slog.Logger, now time.Time, grace time.Duration) (int, error) {
	recs, err := st.ListStates(ctx, StateRecording, StatePaused, StateTentative)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		if !rec.EndTime.IsZero() {
			continue // a finished tentative recording: nothing to repair
		}
		if err := recoverOne(st, rec, now, grace); err != nil {
			log.Error("recovery failed", "id", rec.ID, "err", err)
			rec.State = StateFailed
			rec.Warnings = append(rec.Warnings, "recovery failed: "+err.Error())
			if rec.EndTime.IsZero() {
				rec.EndTime = now
			}
		} else {
			log.Info("recording recovered", "id", rec.ID, "frames", rec.Audio.Frames, "state", rec.State)
		}
		if err := st.SaveDurable(ctx, rec); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func recoverOne(st *Store, rec *Recording, now time.Time, grace time.Duration) error {
	dir := filepath.Join(st.DataDir(), rec.Dir)
	_ = os.Remove(filepath.Join(dir, "audio.merge.tmp")) // an interrupted merge is redone
	segs, err := segmentFiles(dir)
	if err != nil {
		return err
	}
	channels := 0
	for _, name := range segs {
		if _, err := wav.Repair(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("repair %s: %w", name, err)
		}
		c, err := wavChannels(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		channels = max(channels, c)
	}
	if len(segs) > 1 {
		if err := mergeSegments(dir, segs, channels); err != nil {
			return err
		}
	}
	for _, name := range rec.Audio.PartyFiles {
		if _, err := wav.Repair(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("party file %s: %v", name, err))
		}
	}
	var frames int64
	if len(segs) > 0 {
		f, err := os.Open(filepath.Join(dir, AudioFile))
		if err != nil {
			return err
		}
		d, err := openPCMData(f)
		f.Close()
		if err != nil {
			return err
		}
		frames = d.frames
		rec.Audio.Channels = d.channels
		rec.Audio.File = AudioFile
	} else {
		rec.Warnings = append(rec.Warnings, "no audio was written before the recorder stopped")
	}
	rec.Audio.Frames = frames
	rec.Audio.Segments = nil
	rec.DurationMs = frames / (sampleRate / 1000)
	rec.EndTime = rec.StartTime.Add(time.Duration(rec.DurationMs) * time.Millisecond)
	for i := range rec.Pauses {
		if rec.Pauses[i].EndMs == 0 {
			rec.Pauses[i].EndMs = rec.DurationMs
		}
	}
	rec.Warnings = append(rec.Warnings, "recorder stopped while recording; audio repaired up to the last flush")
	if rec.State == StateTentative {
		if rec.TentativeUntil.IsZero() {
			rec.TentativeUntil = now.Add(grace)
		}
		return nil
	}
	rec.State = StateRecovered
	return nil
}

// segmentFiles lists audio.wav and audio.segN.wav in order (missing audio.wav: none).
func segmentFiles(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, AudioFile)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := []string{AudioFile}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	nums := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if rest, ok := strings.CutPrefix(name, "audio.seg"); ok {
			if num, ok := strings.CutSuffix(rest, ".wav"); ok {
				if k, err := strconv.Atoi(num); err == nil && k > 0 {
					nums[k] = name
				}
			}
		}
	}
	for k := 1; ; k++ {
		name, ok := nums[k]
		if !ok {
			break
		}
		out = append(out, name)
	}
	return out, nil
}

func wavChannels(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	d, err := openPCMData(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return d.channels, nil
}
