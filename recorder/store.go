package recorder

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// Store errors.
var (
	ErrNotFound  = errors.New("recording not found")
	ErrInvalidID = errors.New("invalid recording id")
	ErrBadQuery  = errors.New("bad search query")
)

// maxInfoSize bounds recording.json reads (it is our own file, but a corrupt disk must not
// make us allocate without limit).
const maxInfoSize = 16 << 20

// Store owns the on-disk layout <data>/recordings/<yyyy>/<mm>/<dd>/<id>/ and the SQLite index
// <data>/index.db. recording.json is the source of truth for one recording; the index holds the
// searchable columns and is rewritten from it on every Save.
type Store struct {
	dataDir string
	db      *sql.DB
	// mu serialises Save/Delete per store so that recording.json and its row never disagree.
	mu sync.Mutex
}

const schema = `
CREATE TABLE IF NOT EXISTS recordings (
	id         TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	mode       TEXT NOT NULL DEFAULT '',
	call_uuid  TEXT NOT NULL DEFAULT '',
	conn_id    TEXT NOT NULL DEFAULT '',
	agent_id   TEXT NOT NULL DEFAULT '',
	ani        TEXT NOT NULL DEFAULT '',
	dnis       TEXT NOT NULL DEFAULT '',
	start_ms   INTEGER NOT NULL,
	end_ms     INTEGER NOT NULL DEFAULT 0,
	duration_ms INTEGER NOT NULL DEFAULT 0,
	tentative_until_ms INTEGER NOT NULL DEFAULT 0,
	dir        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recordings_call_uuid ON recordings(call_uuid);
CREATE INDEX IF NOT EXISTS recordings_conn_id ON recordings(conn_id);
CREATE INDEX IF NOT EXISTS recordings_start ON recordings(start_ms);
CREATE INDEX IF NOT EXISTS recordings_state ON recordings(state);
CREATE TABLE IF NOT EXISTS recording_dns (
	recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
	dn TEXT NOT NULL,
	PRIMARY KEY (recording_id, dn)
);
CREATE INDEX IF NOT EXISTS recording_dns_dn ON recording_dns(dn);
`

// OpenStore opens (creating if needed) the store under dataDir.
func OpenStore(dataDir string) (*Store, error) {
	if dataDir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "recordings"), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	dsn := "file:" + filepath.Join(dataDir, "index.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open index: %w", err)
	}
	// One connection: SQLite serialises writers anyway, and a single connection avoids
	// SQLITE_BUSY between our own connections.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: schema: %w", err)
	}
	return &Store{dataDir: dataDir, db: db}, nil
}

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

// DataDir returns the data directory.
func (s *Store) DataDir() string { return s.dataDir }

// DirFor returns the relative directory of a recording started at t.
func DirFor(id string, t time.Time) string {
	t = t.UTC()
	return filepath.Join("recordings", t.Format("2006"), t.Format("01"), t.Format("02"), id)
}

// Path returns the absolute path of file name inside the recording's directory.
func (s *Store) Path(rec *Recording, name string) string {
	return filepath.Join(s.dataDir, rec.Dir, name)
}

// Create makes the directory of a new recording, sets rec.Dir and saves it.
func (s *Store) Create(ctx context.Context, rec *Recording) error {
	if !ValidID(rec.ID) {
		return ErrInvalidID
	}
	if rec.StartTime.IsZero() {
		return errors.New("store: recording without start time")
	}
	rec.Dir = DirFor(rec.ID, rec.StartTime)
	if err := os.MkdirAll(filepath.Join(s.dataDir, rec.Dir), 0o755); err != nil {
		return fmt.Errorf("store: create %s: %w", rec.ID, err)
	}
	return s.Save(ctx, rec)
}

// Save writes recording.json atomically (temporary file, rename) and updates the index row.
// The rename makes it safe against the process dying at any point; it does not force the
// data to the disk (as the audio, which is flushed, not synced): use SaveDurable for the
// final state of a recording.
func (s *Store) Save(ctx context.Context, rec *Recording) error { return s.save(ctx, rec, false) }

// SaveDurable is Save followed by fsync of the file, so the state survives a power loss.
func (s *Store) SaveDurable(ctx context.Context, rec *Recording) error { return s.save(ctx, rec, true) }

func (s *Store) save(ctx context.Context, rec *Recording, durable bool) error {
	if !ValidID(rec.ID) {
		return ErrInvalidID
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", rec.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeFileAtomic(filepath.Join(s.dataDir, rec.Dir, InfoFile), b, durable); err != nil {
		return fmt.Errorf("store: save %s: %w", rec.ID, err)
	}
	return s.index(ctx, rec)
}

func (s *Store) index(ctx context.Context, rec *Recording) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: index %s: %w", rec.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `INSERT INTO recordings
		(id, state, mode, call_uuid, conn_id, agent_id, ani, dnis, start_ms, end_ms, duration_ms, tentative_until_ms, dir)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET state=excluded.state, mode=excluded.mode, call_uuid=excluded.call_uuid,
		conn_id=excluded.conn_id, agent_id=excluded.agent_id, ani=excluded.ani, dnis=excluded.dnis,
		start_ms=excluded.start_ms, end_ms=excluded.end_ms, duration_ms=excluded.duration_ms,
		tentative_until_ms=excluded.tentative_until_ms, dir=excluded.dir`,
		rec.ID, string(rec.State), rec.Mode, rec.CallUUID, rec.ConnID, rec.AgentID, rec.ANI, rec.DNIS,
		rec.StartTime.UnixMilli(), unixMilliOrZero(rec.EndTime), rec.DurationMs,
		unixMilliOrZero(rec.TentativeUntil), rec.Dir)
	if err != nil {
		return fmt.Errorf("store: index %s: %w", rec.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recording_dns WHERE recording_id=?`, rec.ID); err != nil {
		return fmt.Errorf("store: index dns %s: %w", rec.ID, err)
	}
	for _, dn := range recordingDNs(rec) {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recording_dns (recording_id, dn) VALUES (?,?)`, rec.ID, dn); err != nil {
			return fmt.Errorf("store: index dns %s: %w", rec.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: index %s: %w", rec.ID, err)
	}
	return nil
}

// recordingDNs is every DN a search by DN should find the recording under.
func recordingDNs(rec *Recording) []string {
	seen := map[string]bool{}
	var out []string
	add := func(dn string) {
		dn = strings.TrimSpace(dn)
		if dn != "" && !seen[dn] {
			seen[dn] = true
			out = append(out, dn)
		}
	}
	add(rec.RecordDN)
	add(rec.OtherDN)
	for _, dn := range rec.DNs {
		add(dn)
	}
	return out
}

func unixMilliOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Get loads a recording by id from its recording.json.
func (s *Store) Get(ctx context.Context, id string) (*Recording, error) {
	if !ValidID(id) {
		return nil, ErrInvalidID
	}
	var dir string
	err := s.db.QueryRowContext(ctx, `SELECT dir FROM recordings WHERE id=?`, id).Scan(&dir)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	return s.load(dir)
}

func (s *Store) load(dir string) (*Recording, error) {
	f, err := os.Open(filepath.Join(s.dataDir, dir, InfoFile))
	if err != nil {
		return nil, fmt.Errorf("store: load %s: %w", dir, err)
	}
	defer f.Close()
	var rec Recording
	dec := json.NewDecoder(&limitedReader{r: f, n: maxInfoSize})
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("store: load %s: %w", dir, err)
	}
	rec.Dir = dir
	return &rec, nil
}

// Delete removes a recording's files and index row.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return ErrInvalidID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var dir string
	err := s.db.QueryRowContext(ctx, `SELECT dir FROM recordings WHERE id=?`, id).Scan(&dir)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	if err := os.RemoveAll(filepath.Join(s.dataDir, dir)); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM recordings WHERE id=?`, id); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	return nil
}

// writeFileAtomic replaces path with b so that a crash leaves either the old or the new file;
// durable also fsyncs the data before the rename.
func writeFileAtomic(path string, b []byte, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

var errInfoTooLarge = errors.New("file too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errInfoTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
