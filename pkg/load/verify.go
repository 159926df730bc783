package load

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/recorder"
)

// settleTimeout is how long verification waits for recordings still live (a
// BYE that failed or is still being processed) to finish.
const settleTimeout = 5 * time.Second

// expectedCall is what one established call should have left on a recorder.
type expectedCall struct {
	callUUID string
	streams  []expectedStream
}

type expectedStream struct {
	label string
	ssrc  uint32
	sent  uint64
}

// found is a recording and the recorder holding it.
type found struct {
	rec    recorder.Recording
	client *recclient.Client
}

// verifier checks a run's recordings through the recorders' API.
type verifier struct {
	clients []*recclient.Client
	since   time.Time
	prefix  string // CallUUID prefix of this run
	sample  int
	log     *slog.Logger
}

// collect searches every recorder for the run's recordings, by CallUUID.
func (v *verifier) collect(ctx context.Context) (map[string][]found, error) {
	out := map[string][]found{}
	for _, c := range v.clients {
		for offset := 0; ; {
			page, err := c.Search(ctx, recclient.Query{From: v.since, To: time.Now().Add(time.Minute), Limit: recorder.MaxPageSize, Offset: offset})
			if err != nil {
				return nil, fmt.Errorf("searching %s: %w", c.Base, err)
			}
			for _, rec := range page.Recordings {
				if strings.HasPrefix(rec.CallUUID, v.prefix) {
					out[rec.CallUUID] = append(out[rec.CallUUID], found{rec: rec, client: c})
				}
			}
			offset += len(page.Recordings)
			if len(page.Recordings) == 0 || offset >= page.Total {
				break
			}
		}
	}
	return out, nil
}

// collectSettled collects until no expected recording is live any more, or
// settleTimeout passed.
func (v *verifier) collectSettled(ctx context.Context, calls []expectedCall) (map[string][]found, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		got, err := v.collect(ctx)
		if err != nil {
			return nil, err
		}
		live := 0
		for _, c := range calls {
			for _, f := range got[c.callUUID] {
				if f.rec.Live() {
					live++
				}
			}
		}
		if live == 0 || time.Now().After(deadline) {
			return got, nil
		}
		v.log.Debug("waiting for live recordings to finish", "live", live)
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return got, nil
		case <-t.C:
		}
	}
}

// verify compares the recordings with what was sent and checks the audio of a
// sample.
func (v *verifier) verify(ctx context.Context, calls []expectedCall) (*RecordingStats, *AudioStats, error) {
	got, err := v.collectSettled(ctx, calls)
	if err != nil {
		return nil, nil, err
	}
	rs := &RecordingStats{Expected: len(calls), Items: make([]RecordingResult, 0, len(calls))}
	var complete []found
	for _, c := range calls {
		item, f := v.check(c, got[c.callUUID])
		for _, s := range item.Streams {
			rs.PacketsSent += s.Sent
			rs.PacketsWritten += s.Written
			rs.PacketsLost += s.Lost
		}
		switch {
		case f == nil:
			rs.Missing++
		default:
			rs.Found++
			for _, ch := range f.rec.Channels {
				rs.Late += ch.Stats.Late
				rs.Duplicates += ch.Stats.Duplicates
				rs.Dropped += ch.Stats.Dropped
				rs.SeqLost += ch.Stats.Lost
			}
			if f.rec.State == recorder.StateComplete {
				rs.Complete++
				complete = append(complete, *f)
			} else {
				rs.NotComplete++
			}
		}
		if lost(item) {
			rs.RecordingsWithLoss++
		}
		rs.Items = append(rs.Items, item)
	}
	if rs.PacketsSent > 0 {
		rs.LossPct = round3(100 * float64(rs.PacketsLost) / float64(rs.PacketsSent))
	}
	return rs, v.checkAudio(ctx, complete), nil
}

func lost(it RecordingResult) bool {
	for _, s := range it.Streams {
		if s.Lost > 0 {
			return true
		}
	}
	return false
}

// check matches one call with its recording(s): state, and per stream (by
// label) packets written against packets sent.
func (v *verifier) check(c expectedCall, recs []found) (RecordingResult, *found) {
	item := RecordingResult{CallUUID: c.callUUID}
	var f *found
	for i := range recs {
		if f == nil || (f.rec.State != recorder.StateComplete && recs[i].rec.State == recorder.StateComplete) {
			f = &recs[i]
		}
	}
	if len(recs) > 1 {
		item.Problems = append(item.Problems, fmt.Sprintf("%d recordings for one call", len(recs)))
	}
	if f == nil {
		item.Problems = append(item.Problems, "no recording")
		for _, s := range c.streams {
			item.Streams = append(item.Streams, StreamResult{Label: s.label, SSRC: s.ssrc, Sent: s.sent, Lost: s.sent})
		}
		return item, nil
	}
	item.ID, item.Recorder, item.State, item.DurationMs = f.rec.ID, f.client.Base, string(f.rec.State), f.rec.DurationMs
	if f.rec.State != recorder.StateComplete {
		item.Problems = append(item.Problems, "state "+string(f.rec.State))
	}
	for _, w := range f.rec.Warnings {
		v.log.Debug("recording warning", "id", f.rec.ID, "warning", w)
	}
	for _, s := range c.streams {
		sr := StreamResult{Label: s.label, SSRC: s.ssrc, Sent: s.sent}
		ch, ok := channelByLabel(f.rec, s.label)
		if !ok {
			item.Problems = append(item.Problems, fmt.Sprintf("stream %q not recorded", s.label))
		} else {
			st := ch.Stats
			if st.Packets > st.Late {
				sr.Written = st.Packets - st.Late
			}
		}
		if sr.Sent > sr.Written {
			sr.Lost = sr.Sent - sr.Written
			item.Problems = append(item.Problems, fmt.Sprintf("stream %q: %d of %d packets not written", s.label, sr.Lost, sr.Sent))
		}
		item.Streams = append(item.Streams, sr)
	}
	return item, f
}

func channelByLabel(rec recorder.Recording, label string) (recorder.ChannelInfo, bool) {
	for _, ch := range rec.Channels {
		if ch.Label == label {
			return ch, true
		}
	}
	return recorder.ChannelInfo{}, false
}

// checkAudio downloads a sample of complete recordings, spread evenly over
// the run, and checks every channel carries its party's tone only.
func (v *verifier) checkAudio(ctx context.Context, complete []found) *AudioStats {
	n := v.sample
	if n < 0 || n > len(complete) {
		n = len(complete)
	}
	as := &AudioStats{Problems: []string{}}
	for i := range n {
		f := complete[i*len(complete)/n]
		as.Sampled++
		problems := v.checkOne(ctx, f)
		if len(problems) == 0 {
			as.Passed++
			continue
		}
		for _, p := range problems {
			if len(as.Problems) < maxProblems {
				as.Problems = append(as.Problems, f.rec.CallUUID+" "+f.rec.ID+": "+p)
			}
		}
	}
	return as
}

func (v *verifier) checkOne(ctx context.Context, f found) []string {
	rc, err := f.client.Audio(ctx, f.rec.ID, -1)
	if err != nil {
		return []string{"download: " + err.Error()}
	}
	defer rc.Close()
	w, err := wav.Read(rc)
	if err != nil {
		return []string{"reading WAV: " + err.Error()}
	}
	res := recclient.VerifyTones(f.rec, w)
	if res.OK() {
		return nil
	}
	return res.Problems()
}
