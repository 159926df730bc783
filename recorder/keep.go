package recorder

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrKeepPending is returned by Keep when no tentative recording of the call exists yet: the
// keep is remembered for the grace period and applied when the recording arrives.
var ErrKeepPending = errors.New("no tentative recording yet; keep remembered")

// Keep commits the tentative pre-recordings of a call (POST keep, or T-lib GSIP_RECORD=ON):
// live ones continue as normal recordings, finished ones become complete. It returns the ids
// it kept.
func (r *Recorder) Keep(ctx context.Context, callUUID string) ([]string, error) {
	if callUUID == "" {
		return nil, fmt.Errorf("%w: empty CallUUID", ErrBadQuery)
	}
	now := time.Now()
	kept := map[string]bool{}
	var ids []string
	for _, s := range r.liveSessions() {
		s.mu.Lock()
		if s.rec.CallUUID == callUUID && s.rec.Prerecord && !s.rec.Kept && !s.ended {
			s.rec.Kept = true
			s.rec.TentativeUntil = time.Time{}
			s.rec.State = s.liveState()
			s.saveLocked(ctx, now)
			kept[s.rec.ID] = true
			ids = append(ids, s.rec.ID)
		}
		s.mu.Unlock()
	}
	p, err := r.store.Search(ctx, Query{CallUUID: callUUID, States: []State{StateTentative}, Limit: MaxPageSize})
	if err != nil {
		return ids, err
	}
	for _, rec := range p.Recordings {
		if kept[rec.ID] || rec.EndTime.IsZero() {
			continue // live: handled above (or just starting; its session applies pending keeps)
		}
		rec.Kept = true
		rec.TentativeUntil = time.Time{}
		rec.State = StateComplete
		if err := r.store.SaveDurable(ctx, rec); err != nil {
			return ids, err
		}
		ids = append(ids, rec.ID)
	}
	if len(ids) == 0 {
		r.mu.Lock()
		r.pendingKeep[callUUID] = now.Add(r.cfg.PrerecordGrace)
		r.mu.Unlock()
		return nil, ErrKeepPending
	}
	r.metrics.kept.Add(int64(len(ids)))
	r.log.Info("pre-recording kept", "call_uuid", callUUID, "ids", ids)
	return ids, nil
}

// takePendingKeep reports (and forgets) a keep that arrived before the recording.
func (r *Recorder) takePendingKeep(callUUID string, now time.Time) bool {
	if callUUID == "" {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.pendingKeep[callUUID]
	delete(r.pendingKeep, callUUID)
	return ok && now.Before(until)
}

// sweepTentative deletes finished pre-recordings whose grace period passed without a keep.
func (r *Recorder) sweepTentative(now time.Time) {
	r.mu.Lock()
	for k, until := range r.pendingKeep {
		if now.After(until) {
			delete(r.pendingKeep, k)
		}
	}
	r.mu.Unlock()
	ids, err := r.store.expiredTentative(context.Background(), now)
	if err != nil {
		r.log.Warn("tentative sweep failed", "err", err)
		return
	}
	for _, id := range ids {
		if err := r.store.Delete(context.Background(), id); err != nil && !errors.Is(err, ErrNotFound) {
			r.log.Warn("deleting expired pre-recording failed", "id", id, "err", err)
			continue
		}
		r.metrics.discarded.Add(1)
		r.log.Info("pre-recording discarded (not kept within the grace period)", "id", id)
	}
}
