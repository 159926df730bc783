package recorder

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestStoreLayoutAndRoundTrip(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	start := time.Date(2025, 1, 10, 9, 0, 1, 0, time.UTC)
	rec := &Recording{ID: "rec-1", State: StateRecording, Mode: ModeSIPREC, StartTime: start,
		CallUUID: "01ABCD", ConnID: "007102719818001f", RecordDN: "7001", OtherDN: "+15551230000",
		Participants: []Participant{{ID: "p1", AOR: "sip:7001@lab"}}}
	require.NoError(t, s.Create(ctx, rec))
	assert.Equal(t, filepath.Join("recordings", "2025", "01", "10", "rec-1"), rec.Dir)
	_, err := os.Stat(filepath.Join(s.DataDir(), rec.Dir, InfoFile))
	require.NoError(t, err)

	got, err := s.Get(ctx, "rec-1")
	require.NoError(t, err)
	assert.Equal(t, rec.CallUUID, got.CallUUID)
	assert.Equal(t, rec.Participants, got.Participants)
	assert.True(t, got.StartTime.Equal(start))

	got.State = StateComplete
	got.EndTime = start.Add(time.Minute)
	require.NoError(t, s.Save(ctx, got))
	again, err := s.Get(ctx, "rec-1")
	require.NoError(t, err)
	assert.Equal(t, StateComplete, again.State)

	require.NoError(t, s.Delete(ctx, "rec-1"))
	_, err = s.Get(ctx, "rec-1")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = os.Stat(filepath.Join(s.DataDir(), rec.Dir))
	require.True(t, os.IsNotExist(err))
	require.ErrorIs(t, s.Delete(ctx, "rec-1"), ErrNotFound)
}

func TestStoreRejectsBadIDs(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	for _, id := range []string{"", "../etc", "a/b", "a b", string(make([]byte, 65))} {
		_, err := s.Get(ctx, id)
		assert.ErrorIs(t, err, ErrInvalidID, id)
		assert.ErrorIs(t, s.Delete(ctx, id), ErrInvalidID, id)
		assert.ErrorIs(t, s.Create(ctx, &Recording{ID: id, StartTime: time.Now()}), ErrInvalidID, id)
	}
}

func TestStoreReopenKeepsIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, &Recording{ID: "keep", State: StateRecording, StartTime: time.Now()}))
	require.NoError(t, s.Close())
	s2, err := OpenStore(dir)
	require.NoError(t, err)
	defer s2.Close()
	rec, err := s2.Get(ctx, "keep")
	require.NoError(t, err)
	assert.Equal(t, StateRecording, rec.State)
}

func TestStoreSearch(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []*Recording{
		{ID: "a", State: StateComplete, CallUUID: "U1", ConnID: "C1", RecordDN: "7001", OtherDN: "+15550001",
			AgentID: "agent1", ANI: "+15550001", DNIS: "5000", StartTime: base, EndTime: base.Add(time.Minute)},
		{ID: "b", State: StateRecording, CallUUID: "U2", ConnID: "C2", RecordDN: "7002", DNs: []string{"7100"},
			AgentID: "agent2", ANI: "+15550002", DNIS: "5000", StartTime: base.Add(10 * time.Minute)},
		{ID: "c", State: StateTentative, CallUUID: "U1", ConnID: "C3", RecordDN: "7001",
			AgentID: "agent1", ANI: "+15550001", DNIS: "5001", StartTime: base.Add(20 * time.Minute),
			EndTime: base.Add(21 * time.Minute)},
		{ID: "d", State: StateRecovered, CallUUID: "U4", RecordDN: "7003", StartTime: base.Add(-24 * time.Hour),
			EndTime: base.Add(-23 * time.Hour)},
	}
	for _, r := range recs {
		require.NoError(t, s.Create(ctx, r))
	}
	ids := func(p *Page) []string {
		var out []string
		for _, r := range p.Recordings {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		q     Query
		want  []string
		total int
	}{
		{"all newest first", Query{}, []string{"c", "b", "a", "d"}, 4},
		{"call uuid", Query{CallUUID: "U1"}, []string{"c", "a"}, 2},
		{"conn id", Query{ConnID: "C2"}, []string{"b"}, 1},
		{"dn record", Query{DN: "7001"}, []string{"c", "a"}, 2},
		{"dn other", Query{DN: "+15550001"}, []string{"a"}, 1},
		{"dn in list", Query{DN: "7100"}, []string{"b"}, 1},
		{"agent", Query{Agent: "agent2"}, []string{"b"}, 1},
		{"ani dnis", Query{ANI: "+15550001", DNIS: "5001"}, []string{"c"}, 1},
		{"state", Query{States: []State{StateRecording, StateRecovered}}, []string{"b", "d"}, 2},
		{"time range overlaps", Query{From: base.Add(30 * time.Second), To: base.Add(15 * time.Minute)}, []string{"b", "a"}, 2},
		{"live recording overlaps a later range", Query{From: base.Add(time.Hour), To: base.Add(2 * time.Hour)}, []string{"b"}, 1},
		{"paging", Query{Limit: 2, Offset: 1}, []string{"b", "a"}, 4},
		{"paging past end", Query{Limit: 2, Offset: 10}, nil, 4},
		{"no match", Query{CallUUID: "nope"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Search(ctx, tc.q)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ids(p))
			assert.Equal(t, tc.total, p.Total)
		})
	}
	_, err := s.Search(ctx, Query{States: []State{"bogus"}})
	require.ErrorIs(t, err, ErrBadQuery)
	_, err = s.Search(ctx, Query{Limit: MaxPageSize + 1})
	require.ErrorIs(t, err, ErrBadQuery)

	// Re-saving with changed DNs replaces the DN rows.
	recs[1].DNs = nil
	require.NoError(t, s.Save(ctx, recs[1]))
	p, err := s.Search(ctx, Query{DN: "7100"})
	require.NoError(t, err)
	assert.Empty(t, p.Recordings)

	counts, err := s.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[State]int{StateComplete: 1, StateRecording: 1, StateTentative: 1, StateRecovered: 1}, counts)

	all, err := s.ListStates(ctx, StateRecording, StateTentative)
	require.NoError(t, err)
	assert.Len(t, all, 2)
}
