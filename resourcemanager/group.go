package resourcemanager

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// group is one resource group: its members, its policy state and the
// conference affinity of a media-server group. mu guards every mutable field
// of the group and of its members; it is held for microseconds (no I/O).
type group struct {
	name       string
	kind       string
	policy     string
	hashKey    string
	noFailover map[int]bool
	dns        []string
	members    []*member
	byName     map[string]*member

	mu       sync.Mutex
	rr       int                   // round-robin / least-used tie cursor: next member index
	conf     map[string]*confEntry // conf-id → media server holding the conference
	rejected uint64                // INVITEs answered 503: no member could take them
}

// confEntry pins a conference to a member; refs counts that member's sessions
// of the conference (pending tries included). At zero the entry goes.
type confEntry struct {
	m    *member
	refs int
}

func newGroup(gc GroupConfig) (*group, error) {
	g := &group{
		name:       gc.Name,
		kind:       gc.Kind,
		policy:     gc.Policy,
		hashKey:    gc.HashKey,
		noFailover: map[int]bool{},
		dns:        gc.DNs,
		byName:     map[string]*member{},
		conf:       map[string]*confEntry{},
	}
	for _, c := range gc.NoFailover {
		g.noFailover[c] = true
	}
	for i, mc := range gc.Members {
		u, err := parseMemberURI(mc.URI)
		if err != nil {
			return nil, fmt.Errorf("group %s member %s: %w", gc.Name, mc.Name, err)
		}
		m := &member{
			name:      mc.Name,
			uri:       u,
			addr:      memberHostPort(u),
			transport: strings.ToUpper(listenFor(u)),
			capacity:  mc.Capacity,
			weight:    mc.Weight,
			index:     i,
		}
		g.members = append(g.members, m)
		g.byName[m.name] = m
	}
	return g, nil
}

// plan appends to dst the members to try for a new session, best first: the
// conference's media server when it has one that is not down (drain, capacity
// and 503 do not split a conference), then the available members in policy
// order, then suspect members in configured order as a last resort.
// pinnedFirst reports that dst starts with the conference's member.
func (g *group) plan(now time.Time, key, confID string, dst []*member) (_ []*member, pinnedFirst bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var pinned *member
	if confID != "" {
		if e := g.conf[confID]; e != nil && e.m.state != stateDown {
			pinned = e.m
			dst = append(dst, pinned)
		}
	}
	availStart := len(dst)
	for _, m := range g.members {
		if m != pinned && m.available(now) {
			dst = append(dst, m)
		}
	}
	g.order(dst[availStart:], key, pinned == nil)
	for _, m := range g.members {
		if m != pinned && m.state == stateSuspect && m.usable(now) {
			dst = append(dst, m)
		}
	}
	return dst, pinned != nil
}

// reject counts an INVITE no member took.
func (g *group) reject() {
	g.mu.Lock()
	g.rejected++
	g.mu.Unlock()
}

// unavailable explains why no member can take a session, e.g.
// "rec1 down; rec2 draining; rec3 full".
func (g *group) unavailable(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for i, m := range g.members {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m.name)
		b.WriteByte(' ')
		b.WriteString(m.unavailableReason(now))
	}
	return b.String()
}

// hasAvailable reports whether a new session could be placed now.
func (g *group) hasAvailable(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members {
		if m.available(now) || (m.state == stateSuspect && m.usable(now)) {
			return true
		}
	}
	return false
}

// acquire takes a session slot on m for one try. pinned (the conference's
// own member) bypasses drain, busy and capacity; a down member never takes one.
func (g *group) acquire(m *member, confID string, pinned bool, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.state == stateDown || (!pinned && !m.usable(now)) {
		return false
	}
	m.active++
	m.attempts++
	if confID != "" {
		e := g.conf[confID]
		if e == nil || e.m != m {
			// A new conference, or its member failed and the conference moves.
			e = &confEntry{m: m}
			g.conf[confID] = e
		}
		e.refs++
	}
	return true
}

// release gives a slot back: the try failed or the session ended.
func (g *group) release(m *member, confID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.active > 0 {
		m.active--
	}
	if confID != "" {
		if e := g.conf[confID]; e != nil && e.m == m {
			e.refs--
			if e.refs <= 0 {
				delete(g.conf, confID)
			}
		}
	}
}

// dropConferences forgets the conferences pinned to a member that went down.
func (g *group) dropConferences(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, e := range g.conf {
		if e.m == m {
			delete(g.conf, id)
		}
	}
}

// mapsDN reports how well the group's DN list matches dn: 0 no match, an
// exact match beats any prefix, a longer prefix beats a shorter one.
func (g *group) mapsDN(dn string) int {
	best := 0
	for _, p := range g.dns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(dn, prefix) && len(prefix)+1 > best {
				best = len(prefix) + 1
			}
		} else if p == dn {
			return 1 << 30
		}
	}
	return best
}
