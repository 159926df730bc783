package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/arlab/arlab/pkg/wav"
)

// wavExpect checks an audio file on disk, such as the media server's local
// recording, which no API serves.

type wavExpect struct {
	path         tmpl
	dir          string
	within       time.Duration
	channels     int
	channelTones []toneRef
	duration     *approx
}

func (c *wavExpect) kind() string           { return "wav" }
func (c *wavExpect) timeout() time.Duration { return c.within }
func (c *wavExpect) capture() []string      { return nil }

func (c *wavExpect) check(ctx context.Context, rn *run) error {
	pattern, err := c.path.expand(rn.vars)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(c.dir, pattern)
	}
	ctx, cancel := context.WithTimeout(ctx, c.within)
	defer cancel()
	t := time.NewTicker(recordingPoll)
	defer t.Stop()
	for {
		err := c.once(pattern, rn)
		if err == nil {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("not satisfied within %s: %w", c.within, err)
		}
	}
}

func (c *wavExpect) once(pattern string, rn *run) error {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("path %q: %w", pattern, err)
	}
	newest, newestT := "", time.Time{}
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.ModTime().After(newestT) {
			newest, newestT = m, st.ModTime()
		}
	}
	if newest == "" {
		return fmt.Errorf("no file matches %s", pattern)
	}
	f, err := wav.ReadFile(newest)
	if err != nil {
		return err
	}
	tones := make([]float64, len(c.channelTones))
	for i, t := range c.channelTones {
		tones[i] = rn.toneHz(t)
	}
	if err := checkChannels(f, c.channels, tones, rn.candidates(tones...)); err != nil {
		return fmt.Errorf("%s: %w", newest, err)
	}
	if c.duration != nil && !c.duration.ok(f.Duration()) {
		return fmt.Errorf("%s lasts %s, expected %s", newest, f.Duration().Round(time.Millisecond), c.duration)
	}
	return nil
}
