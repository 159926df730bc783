package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/arlab/arlab/tlib"
)

// Bounds on call data taken from T-lib (untrusted input kept in memory and in recording.json).
const (
	maxUserDataKeys = 200
	maxUserDataLen  = 4 << 10
)

// callInfo is what T-lib told us about one call (by CallUUID).
type callInfo struct {
	ConnID   string
	ANI      string
	DNIS     string
	AgentID  string
	DNs      []string
	UserData map[string]string
	updated  time.Time
}

// callCache remembers call data by CallUUID so a recording that starts after the events
// (or a Genesys-mode INVITE, which has no metadata) can join it. Bounded by size and age.
type callCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	calls map[string]*callInfo
}

func newCallCache(max int, ttl time.Duration) *callCache {
	return &callCache{max: max, ttl: ttl, calls: map[string]*callInfo{}}
}

// update merges an event into the call's data and returns a copy.
func (c *callCache) update(m *tlib.Message, now time.Time) callInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci, ok := c.calls[m.CallUUID]
	if !ok {
		if len(c.calls) >= c.max {
			c.evict(now)
		}
		ci = &callInfo{UserData: map[string]string{}}
		c.calls[m.CallUUID] = ci
	}
	ci.updated = now
	setIf(&ci.ConnID, m.ConnID)
	setIf(&ci.ANI, m.ANI)
	setIf(&ci.DNIS, m.DNIS)
	ci.DNs = appendUniq(ci.DNs, m.ThisDN, m.OtherDN, m.ThirdPartyDN)
	if len(ci.DNs) > 32 {
		ci.DNs = ci.DNs[:32]
	}
	for _, kv := range []tlib.KVList{m.Extensions, m.UserData} {
		for k, v := range kv {
			switch strings.ToLower(k) {
			case "agentid", "agent-id", "agent_id", "agent":
				setIf(&ci.AgentID, truncate(v, 64))
			}
		}
	}
	for k, v := range m.UserData {
		if _, exists := ci.UserData[k]; !exists && len(ci.UserData) >= maxUserDataKeys {
			continue
		}
		ci.UserData[truncate(k, 256)] = truncate(v, maxUserDataLen)
	}
	return ci.copy()
}

func (c *callCache) get(callUUID string) (callInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci, ok := c.calls[callUUID]
	if !ok {
		return callInfo{}, false
	}
	return ci.copy(), true
}

// evict drops expired entries, or the oldest one when none expired. Called with mu held.
func (c *callCache) evict(now time.Time) {
	var oldestK string
	var oldest time.Time
	for k, ci := range c.calls {
		if now.Sub(ci.updated) > c.ttl {
			delete(c.calls, k)
			continue
		}
		if oldestK == "" || ci.updated.Before(oldest) {
			oldestK, oldest = k, ci.updated
		}
	}
	if len(c.calls) >= c.max && oldestK != "" {
		delete(c.calls, oldestK)
	}
}

func (ci *callInfo) copy() callInfo {
	out := *ci
	out.DNs = append([]string(nil), ci.DNs...)
	out.UserData = maps.Clone(ci.UserData)
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// applyCallInfo joins T-lib call data into a recording; it reports whether anything changed.
func applyCallInfo(rec *Recording, ci callInfo) bool {
	before := fmt.Sprint(rec.ConnID, rec.ANI, rec.DNIS, rec.AgentID, rec.DNs, rec.UserData, rec.RecFileName)
	if rec.ConnID == "" {
		rec.ConnID = ci.ConnID
	}
	setIf(&rec.ANI, ci.ANI)
	setIf(&rec.DNIS, ci.DNIS)
	setIf(&rec.AgentID, ci.AgentID)
	rec.DNs = appendUniq(rec.DNs, ci.DNs...)
	if len(ci.UserData) > 0 {
		if rec.UserData == nil {
			rec.UserData = map[string]string{}
		}
		maps.Copy(rec.UserData, ci.UserData)
	}
	setIf(&rec.RecFileName, ci.UserData[tlib.KeyRecordFilename])
	after := fmt.Sprint(rec.ConnID, rec.ANI, rec.DNIS, rec.AgentID, rec.DNs, rec.UserData, rec.RecFileName)
	return before != after
}

// joinCallData applies cached T-lib data to a new recording. Called with the session's mu.
func (r *Recorder) joinCallData(rec *Recording) {
	if rec.CallUUID == "" {
		return
	}
	if ci, ok := r.calls.get(rec.CallUUID); ok {
		applyCallInfo(rec, ci)
	}
}

// startTLib connects to T-lib in the background: a recorder records even while the SIP
// Server's T-lib is down; call data joins once it is up. The client reconnects (and
// re-registers monitor-all) by itself after the first connection.
func (r *Recorder) startTLib() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		backoff := 100 * time.Millisecond
		started := time.Now()
		for {
			c, err := r.dialTLib()
			if err == nil {
				r.mu.Lock()
				closing := r.closing.Load()
				if !closing {
					r.tl = c
				}
				r.mu.Unlock()
				if closing {
					_ = c.Close()
					return
				}
				for m := range c.Events() { // closed by Close
					r.onCallEvent(m)
				}
				return
			}
			// The lab starts recorders before the SIP Server: the first
			// seconds of refusals are expected, later ones are worth a warning.
			lv := slog.LevelDebug
			if time.Since(started) > 10*time.Second {
				lv = slog.LevelWarn
			}
			r.log.Log(r.ctx, lv, "T-lib not reachable; retrying", "addr", r.cfg.TLib.Addr, "err", err, "in", backoff)
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}()
}

func (r *Recorder) dialTLib() (*tlib.Client, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	c, err := tlib.Dial(ctx, r.cfg.TLib.Addr, tlib.ClientConfig{AppName: r.cfg.TLib.AppName,
		Password: r.cfg.TLib.Password, Reconnect: true, Logger: r.log.With("component", "tlib")})
	if err != nil {
		return nil, err
	}
	if err := c.MonitorAll(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("monitor-all: %w", err)
	}
	return c, nil
}

// onCallEvent joins a T-lib event to the recordings of its call, and commits tentative
// pre-recordings when GSIP_RECORD turns ON.
func (r *Recorder) onCallEvent(m *tlib.Message) {
	if m.CallUUID == "" {
		return
	}
	r.metrics.tlibEvents.Add(1)
	now := time.Now()
	ci := r.calls.update(m, now)
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	live := map[string]bool{}
	for _, s := range r.liveSessions() {
		s.mu.Lock()
		if s.rec.CallUUID == m.CallUUID && !s.ended {
			live[s.rec.ID] = true
			if applyCallInfo(s.rec, ci) {
				s.saveLocked(ctx, now)
			}
		}
		s.mu.Unlock()
	}
	// Finished recordings of the call (T-lib events often trail the BYE).
	if p, err := r.store.Search(ctx, Query{CallUUID: m.CallUUID, Limit: 20}); err == nil {
		for _, rec := range p.Recordings {
			if live[rec.ID] || rec.EndTime.IsZero() {
				continue
			}
			if applyCallInfo(rec, ci) {
				if err := r.store.Save(ctx, rec); err != nil {
					r.log.Warn("joining call data failed", "id", rec.ID, "err", err)
				}
			}
		}
	}
	// EventAttachedDataChanged is the recording-state notification; the same user data rides
	// on every later event of the call and must not trigger again.
	if m.Name == tlib.EventAttachedDataChanged && strings.EqualFold(m.UserData[tlib.KeyRecord], tlib.RecordOn) {
		if _, err := r.Keep(ctx, m.CallUUID); err != nil && !errors.Is(err, ErrKeepPending) {
			r.log.Warn("keep from T-lib failed", "call_uuid", m.CallUUID, "err", err)
		}
	}
}
