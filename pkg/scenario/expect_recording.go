package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/wav"
)

type recordingExpect struct {
	callUUID, connID, dn, id tmpl
	recorder                 string
	within                   time.Duration
	absent                   bool
	states                   []string
	channels                 int
	channelTones             []toneRef
	pauses                   int // -1: not checked
	silentOverPauses         bool
	tolerance                time.Duration
	participants             []tmpl
	duration                 *approx
	prerecord, kept          *bool
	as                       string
}

func (c *recordingExpect) kind() string           { return "recording" }
func (c *recordingExpect) timeout() time.Duration { return c.within }
func (c *recordingExpect) capture() []string {
	if c.as == "" {
		return nil
	}
	return []string{c.as}
}

// recordingPoll paces the search while a recording is expected to appear
// or reach a state.
const recordingPoll = 500 * time.Millisecond

func (c *recordingExpect) recorders(rn *run) ([]string, error) {
	if len(rn.lab.Recorders) == 0 {
		return nil, errors.New("no recorder API address: set lab.recorders or point scenario run at a lab")
	}
	switch c.recorder {
	case "any", "all":
		return rn.lab.Recorders, nil
	}
	i, _ := strconv.Atoi(c.recorder)
	if i < 0 || i >= len(rn.lab.Recorders) {
		return nil, fmt.Errorf("recorder %d: the lab has %d recorders", i, len(rn.lab.Recorders))
	}
	return rn.lab.Recorders[i : i+1], nil
}

func (c *recordingExpect) check(ctx context.Context, rn *run) error {
	bases, err := c.recorders(rn)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	for k, t := range map[string]tmpl{"call_uuid": c.callUUID, "conn_id": c.connID, "dn": c.dn} {
		if keys[k], err = t.expand(rn.vars); err != nil {
			return err
		}
	}
	id, err := c.id.expand(rn.vars)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.within)
	defer cancel()
	audioCache := map[string]error{}
	t := time.NewTicker(recordingPoll)
	defer t.Stop()
	var last error
	for {
		found, err := c.evaluate(ctx, rn, bases, keys, id, audioCache)
		if err != nil && ctx.Err() != nil && last != nil {
			err = last // cut short by the deadline: the previous answer says more
		}
		last = err
		if err == nil {
			if c.as != "" && found != nil {
				rn.vars.set(c.as, map[string]string{"id": found.rec.ID, "state": found.rec.State, "recorder": found.base,
					"dir": found.rec.Dir, "src_id": found.rec.SRCRecordID, "call_uuid": found.rec.CallUUID, "conn_id": found.rec.ConnID,
					"duration_ms": strconv.FormatInt(found.rec.DurationMs, 10),
					"audio":       found.base + recorderAPI + "/recordings/" + found.rec.ID + "/audio"})
			}
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("not satisfied within %s: %w", c.within, err)
		}
	}
}

type foundRec struct {
	base string
	rec  *apiRecording
}

// evaluate checks once, returning the matching recording or why none does.
func (c *recordingExpect) evaluate(ctx context.Context, rn *run, bases []string, keys map[string]string, id string,
	audioCache map[string]error) (*foundRec, error) {
	var first *foundRec
	var problems []string
	matched := 0
	for _, base := range bases {
		recs, err := rn.findRecordings(ctx, base, keys, id)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if c.absent {
			if len(recs) > 0 {
				ids := make([]string, len(recs))
				for i, r := range recs {
					ids[i] = r.ID + " (" + r.State + ")"
				}
				problems = append(problems, fmt.Sprintf("recorder %s still has %s", base, strings.Join(ids, ", ")))
			}
			continue
		}
		if len(recs) == 0 {
			problems = append(problems, fmt.Sprintf("recorder %s has no recording for %s", base, describeKeys(keys, id)))
			continue
		}
		var why []string
		ok := false
		for _, rec := range recs {
			err := c.matchMeta(rec, rn.vars)
			if err == nil {
				cacheKey := base + "|" + rec.ID + "|" + rec.State + "|" + strconv.FormatInt(rec.DurationMs, 10)
				var cached bool
				if err, cached = audioCache[cacheKey]; !cached {
					err = c.matchAudio(ctx, rn, base, rec)
					if ctx.Err() == nil {
						audioCache[cacheKey] = err
					}
				}
			}
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", rec.ID, err))
				continue
			}
			ok = true
			if first == nil {
				first = &foundRec{base: base, rec: rec}
			}
			break
		}
		if ok {
			matched++
		} else {
			problems = append(problems, fmt.Sprintf("recorder %s: %s", base, strings.Join(why, "; ")))
		}
	}
	switch {
	case c.absent && len(problems) == 0:
		return nil, nil
	case !c.absent && c.recorder == "any" && matched > 0:
		return first, nil
	case !c.absent && matched == len(bases):
		return first, nil
	}
	return nil, errors.New(strings.Join(problems, "; "))
}

func describeKeys(keys map[string]string, id string) string {
	if id != "" {
		return "id " + id
	}
	var parts []string
	for _, k := range []string{"call_uuid", "conn_id", "dn"} {
		if keys[k] != "" {
			parts = append(parts, k+"="+keys[k])
		}
	}
	return strings.Join(parts, " ")
}

// matchMeta checks what the recording's JSON says.
func (c *recordingExpect) matchMeta(rec *apiRecording, v *vars) error {
	if len(c.states) > 0 && !contains(c.states, rec.State) {
		return fmt.Errorf("state %s, expected %s", rec.State, strings.Join(c.states, " or "))
	}
	if c.prerecord != nil && rec.Prerecord != *c.prerecord {
		return fmt.Errorf("prerecord is %t, expected %t", rec.Prerecord, *c.prerecord)
	}
	if c.kept != nil && rec.Kept != *c.kept {
		return fmt.Errorf("kept is %t, expected %t", rec.Kept, *c.kept)
	}
	if c.channels > 0 && len(rec.Channels) != c.channels {
		return fmt.Errorf("%d channels, expected %d", len(rec.Channels), c.channels)
	}
	if c.pauses >= 0 && len(rec.Pauses) != c.pauses {
		return fmt.Errorf("%d pauses, expected %d", len(rec.Pauses), c.pauses)
	}
	if c.duration != nil && !c.duration.ok(time.Duration(rec.DurationMs)*time.Millisecond) {
		return fmt.Errorf("duration %dms, expected %s", rec.DurationMs, c.duration)
	}
	for _, pt := range c.participants {
		want, err := pt.expand(v)
		if err != nil {
			return err
		}
		found := false
		var have []string
		for _, p := range rec.Participants {
			if strings.Contains(p.AOR, want) || strings.Contains(p.Name, want) || p.ID == want {
				found = true
				break
			}
			have = append(have, p.AOR)
		}
		if !found {
			return fmt.Errorf("no participant %q in the metadata (participants: %s)", want, strings.Join(have, ", "))
		}
	}
	return nil
}

// matchAudio downloads the audio when a check needs it.
func (c *recordingExpect) matchAudio(ctx context.Context, rn *run, base string, rec *apiRecording) error {
	if len(c.channelTones) == 0 && !c.silentOverPauses && c.channels == 0 {
		return nil
	}
	body, err := rn.apiGet(ctx, base+recorderAPI+"/recordings/"+url.PathEscape(rec.ID)+"/audio", maxAudioBody)
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	f, err := wav.Read(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	tones := make([]float64, len(c.channelTones))
	for i, t := range c.channelTones {
		tones[i] = rn.toneHz(t)
	}
	if err := checkChannels(f, c.channels, tones, rn.candidates(tones...)); err != nil {
		return err
	}
	if c.silentOverPauses {
		if len(rec.Pauses) == 0 {
			return errors.New("silent-over-pauses: the recording has no pauses")
		}
		for i, p := range rec.Pauses {
			if p.EndMs == 0 {
				return fmt.Errorf("pause %d is still open", i+1)
			}
			from := time.Duration(p.StartMs)*time.Millisecond + c.tolerance
			to := time.Duration(p.EndMs)*time.Millisecond - c.tolerance
			if err := silentSpan(f, from, to); err != nil {
				return fmt.Errorf("pause %d (%dms-%dms): %w", i+1, p.StartMs, p.EndMs, err)
			}
		}
	}
	return nil
}

// checkChannels checks the channel count and each channel's dominant tone.
func checkChannels(f *wav.File, channels int, tones []float64, cands []float64) error {
	if channels > 0 && f.Header.Channels != channels {
		return fmt.Errorf("the audio has %d channels, expected %d", f.Header.Channels, channels)
	}
	if len(tones) > len(f.Samples) {
		return fmt.Errorf("the audio has %d channels, channel-tones names %d", len(f.Samples), len(tones))
	}
	for i, want := range tones {
		got, ok := audio.DominantTone(f.Samples[i], cands)
		switch {
		case !ok && audio.IsSilent(f.Samples[i]):
			return fmt.Errorf("channel %d is silent, expected the %.0f Hz tone", i, want)
		case !ok:
			return fmt.Errorf("channel %d has no dominant tone, expected %.0f Hz", i, want)
		case got != want:
			return fmt.Errorf("channel %d carries %.0f Hz, expected %.0f Hz", i, got, want)
		}
	}
	return nil
}

// silentSpan checks that every 20 ms frame of every channel between from
// and to is silent.
func silentSpan(f *wav.File, from, to time.Duration) error {
	rate := f.Header.SampleRate
	if rate == 0 {
		rate = wav.DefaultSampleRate
	}
	a, b := int(from.Seconds()*float64(rate)), int(to.Seconds()*float64(rate))
	frame := rate / 50
	for ch, s := range f.Samples {
		if b > len(s) {
			b = len(s)
		}
		for i := max(a, 0); i+frame <= b; i += frame {
			if !audio.IsSilent(s[i : i+frame]) {
				at := time.Duration(i) * time.Second / time.Duration(rate)
				return fmt.Errorf("channel %d is not silent at %s (%.1f dBFS)", ch, at.Round(time.Millisecond),
					audio.DBFS(s[i:i+frame]))
			}
		}
	}
	return nil
}
