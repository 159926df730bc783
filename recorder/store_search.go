package recorder

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Paging limits for Search.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Query selects recordings. Empty fields do not filter. From/To select recordings whose
// timeline overlaps [From, To) (a live recording extends to now).
type Query struct {
	CallUUID string
	ConnID   string
	DN       string // recorded DN, other DN or any DN of the call
	Agent    string
	ANI      string
	DNIS     string
	States   []State
	From, To time.Time
	Limit    int // default DefaultPageSize, at most MaxPageSize
	Offset   int
}

// Page is one page of search results, newest first.
type Page struct {
	Total      int          `json:"total"`
	Offset     int          `json:"offset"`
	Limit      int          `json:"limit"`
	Recordings []*Recording `json:"recordings"`
}

// Search returns the recordings matching q, newest first.
func (s *Store) Search(ctx context.Context, q Query) (*Page, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit > MaxPageSize {
		return nil, fmt.Errorf("%w: limit above %d", ErrBadQuery, MaxPageSize)
	}
	if q.Offset < 0 {
		return nil, fmt.Errorf("%w: negative offset", ErrBadQuery)
	}
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("call_uuid", q.CallUUID)
	eq("conn_id", q.ConnID)
	eq("agent_id", q.Agent)
	eq("ani", q.ANI)
	eq("dnis", q.DNIS)
	if q.DN != "" {
		where = append(where, "id IN (SELECT recording_id FROM recording_dns WHERE dn = ?)")
		args = append(args, q.DN)
	}
	if len(q.States) > 0 {
		ph := make([]string, len(q.States))
		for i, st := range q.States {
			if !st.Valid() {
				return nil, fmt.Errorf("%w: unknown state %q", ErrBadQuery, st)
			}
			ph[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ",")+")")
	}
	if !q.To.IsZero() {
		where = append(where, "start_ms < ?")
		args = append(args, q.To.UnixMilli())
	}
	if !q.From.IsZero() {
		where = append(where, "(end_ms = 0 OR end_ms >= ?)")
		args = append(args, q.From.UnixMilli())
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	page := &Page{Offset: q.Offset, Limit: q.Limit, Recordings: []*Recording{}}
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM recordings"+cond, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT dir FROM recordings"+cond+
		" ORDER BY start_ms DESC, id DESC LIMIT ? OFFSET ?", append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	var dirs []string
	for rows.Next() {
		var dir string
		if err := rows.Scan(&dir); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: search: %w", err)
		}
		dirs = append(dirs, dir)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	// Files are read after the rows are closed: the single index connection is free again.
	for _, dir := range dirs {
		rec, err := s.load(dir)
		if err != nil {
			return nil, err
		}
		page.Recordings = append(page.Recordings, rec)
	}
	return page, nil
}

// ListStates returns every recording in one of the given states (used by recovery and the
// tentative sweeper; not paged).
func (s *Store) ListStates(ctx context.Context, states ...State) ([]*Recording, error) {
	var out []*Recording
	for off := 0; ; off += MaxPageSize {
		p, err := s.Search(ctx, Query{States: states, Limit: MaxPageSize, Offset: off})
		if err != nil {
			return nil, err
		}
		out = append(out, p.Recordings...)
		if off+len(p.Recordings) >= p.Total || len(p.Recordings) == 0 {
			return out, nil
		}
	}
}

// Counts returns the number of recordings per state (for /metrics).
func (s *Store) Counts(ctx context.Context) (map[State]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT state, count(*) FROM recordings GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("store: counts: %w", err)
	}
	defer rows.Close()
	out := map[State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: counts: %w", err)
		}
		out[State(st)] = n
	}
	return out, rows.Err()
}

// expiredTentative returns the finished tentative recordings whose grace period ended
// before now.
func (s *Store) expiredTentative(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM recordings WHERE state = ? AND end_ms > 0
		AND tentative_until_ms > 0 AND tentative_until_ms < ? LIMIT 1000`, string(StateTentative), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: tentative: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: tentative: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
