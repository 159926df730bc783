package resourcemanager

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the status and drain API.
var (
	ErrUnknownGroup  = errors.New("unknown group")
	ErrUnknownMember = errors.New("unknown member")
)

// GroupStatus is a snapshot of one group, as GET /api/groups shows it.
type GroupStatus struct {
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Policy      string         `json:"policy"`
	HashKey     string         `json:"hash_key,omitempty"`
	DNs         []string       `json:"dns,omitempty"`
	Available   int            `json:"available"`      // members that can take a session now
	Active      int            `json:"active"`         // sessions across members
	Rejected    uint64         `json:"rejected_total"` // INVITEs answered 503
	Conferences int            `json:"conferences"`    // conferences pinned (media servers)
	Members     []MemberStatus `json:"members"`
}

// MemberStatus is a snapshot of one member.
type MemberStatus struct {
	Name       string    `json:"name"`
	URI        string    `json:"uri"`
	State      string    `json:"state"` // unknown, up, suspect, down
	Available  bool      `json:"available"`
	Draining   bool      `json:"draining"`
	Busy       bool      `json:"busy"` // answered 480/486/503 lately
	Active     int       `json:"active"`
	Capacity   int       `json:"capacity"` // 0 = unlimited
	Weight     int       `json:"weight"`
	Attempts   uint64    `json:"attempts_total"`
	Sessions   uint64    `json:"sessions_total"`
	Failures   uint64    `json:"failures_total"`
	LastError  string    `json:"last_error,omitempty"`
	LastChange time.Time `json:"last_change,omitzero"`
	LastProbe  time.Time `json:"last_probe,omitzero"`
}

// Groups returns a snapshot of every group in configured order.
func (r *RM) Groups() []GroupStatus {
	out := make([]GroupStatus, 0, len(r.groups))
	now := time.Now()
	for _, g := range r.groups {
		out = append(out, g.status(now))
	}
	return out
}

// Drain stops (on) or resumes (off) new sessions on a member; its sessions
// in progress continue.
func (r *RM) Drain(group, member string, on bool) (MemberStatus, error) {
	g := r.byName[group]
	if g == nil {
		return MemberStatus{}, fmt.Errorf("%w %q", ErrUnknownGroup, group)
	}
	m := g.byName[member]
	if m == nil {
		return MemberStatus{}, fmt.Errorf("%w %q in group %q", ErrUnknownMember, member, group)
	}
	g.mu.Lock()
	changed := m.draining != on
	m.draining = on
	st := m.status(time.Now())
	g.mu.Unlock()
	if changed {
		r.log.Info("member drain", "group", group, "member", member, "draining", on)
	}
	return st, nil
}

func (g *group) status(now time.Time) GroupStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	gs := GroupStatus{
		Name:        g.name,
		Kind:        g.kind,
		Policy:      g.policy,
		DNs:         g.dns,
		Rejected:    g.rejected,
		Conferences: len(g.conf),
		Members:     make([]MemberStatus, 0, len(g.members)),
	}
	if g.policy == PolicyHash {
		gs.HashKey = g.hashKey
	}
	for _, m := range g.members {
		ms := m.status(now)
		if ms.Available {
			gs.Available++
		}
		gs.Active += m.active
		gs.Members = append(gs.Members, ms)
	}
	return gs
}

// status snapshots a member; callers hold the group lock.
func (m *member) status(now time.Time) MemberStatus {
	return MemberStatus{
		Name:       m.name,
		URI:        m.uri.String(),
		State:      m.state.String(),
		Available:  m.available(now),
		Draining:   m.draining,
		Busy:       now.Before(m.busyUntil),
		Active:     m.active,
		Capacity:   m.capacity,
		Weight:     m.weight,
		Attempts:   m.attempts,
		Sessions:   m.placed,
		Failures:   m.failures,
		LastError:  m.lastError,
		LastChange: m.lastChange,
		LastProbe:  m.lastProbe,
	}
}
