package recorder

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// API paths (documented in docs/recorder-api.md).
const apiPrefix = "/api/v1"

func (r *Recorder) startHTTP() error {
	ln, err := net.Listen("tcp", r.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("recorder: http: %w", err)
	}
	r.httpLn = ln
	r.httpSrv = &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return r.ctx }}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("http api stopped", "err", err)
		}
	}()
	return nil
}

// Handler returns the HTTP API handler.
func (r *Recorder) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", r.handleHealth)
	mux.Handle("GET /metrics", r.auth(http.HandlerFunc(r.handleMetrics)))
	api := http.NewServeMux()
	api.HandleFunc("GET "+apiPrefix+"/recordings", r.handleSearch)
	api.HandleFunc("GET "+apiPrefix+"/recordings/{id}", r.handleGet)
	api.HandleFunc("GET "+apiPrefix+"/recordings/{id}/audio", r.handleAudio)
	api.HandleFunc("GET "+apiPrefix+"/recordings/{id}/metadata", r.handleMetadata)
	api.HandleFunc("DELETE "+apiPrefix+"/recordings/{id}", r.handleDelete)
	api.HandleFunc("GET "+apiPrefix+"/sessions", r.handleSessions)
	api.HandleFunc("POST "+apiPrefix+"/keep", r.handleKeep)
	api.HandleFunc("POST "+apiPrefix+"/calls/{calluuid}/keep", r.handleKeep)
	mux.Handle(apiPrefix+"/", r.auth(api))
	return mux
}

// auth enforces the optional bearer token.
func (r *Recorder) auth(h http.Handler) http.Handler {
	if r.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + r.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := []byte(req.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="arlab-recorder"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		h.ServeHTTP(w, req)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, os.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalidID), errors.Is(err, ErrBadQuery):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (r *Recorder) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "name": r.cfg.Name,
		"sessions": r.active.Load(), "max_sessions": r.cfg.MaxSessions})
}

func (r *Recorder) handleMetrics(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.writeMetrics(req.Context(), w)
}

// parseQuery reads the search parameters.
func parseQuery(req *http.Request) (Query, error) {
	v := req.URL.Query()
	q := Query{CallUUID: v.Get("call_uuid"), ConnID: v.Get("conn_id"), DN: v.Get("dn"), Agent: v.Get("agent"),
		ANI: v.Get("ani"), DNIS: v.Get("dnis")}
	for _, s := range v["state"] {
		for _, st := range strings.Split(s, ",") {
			if st = strings.TrimSpace(st); st != "" {
				q.States = append(q.States, State(st))
			}
		}
	}
	for key, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(key); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, fmt.Errorf("%w: %s must be RFC 3339 (2025-01-10T09:00:00Z)", ErrBadQuery, key)
			}
			*dst = t
		}
	}
	for key, dst := range map[string]*int{"limit": &q.Limit, "offset": &q.Offset} {
		if s := v.Get(key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return q, fmt.Errorf("%w: %s must be a number", ErrBadQuery, key)
			}
			*dst = n
		}
	}
	return q, nil
}

func (r *Recorder) handleSearch(w http.ResponseWriter, req *http.Request) {
	q, err := parseQuery(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	page, err := r.store.Search(req.Context(), q)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	// Live recordings show their live state, not the last saved one.
	now := time.Now()
	for i, rec := range page.Recordings {
		if live := r.liveRecording(rec.ID, now); live != nil {
			page.Recordings[i] = live
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// liveRecording returns the live snapshot of a recording, nil when it is not live.
func (r *Recorder) liveRecording(id string, now time.Time) *Recording {
	for _, s := range r.liveSessions() {
		s.mu.Lock()
		if s.rec.ID == id && !s.ended {
			rec := s.snapshotLocked(now)
			s.mu.Unlock()
			return rec
		}
		s.mu.Unlock()
	}
	return nil
}

// lookup returns the recording (live snapshot if live) and whether it is live.
func (r *Recorder) lookup(ctx context.Context, id string) (*Recording, bool, error) {
	if !ValidID(id) {
		return nil, false, ErrInvalidID
	}
	if rec := r.liveRecording(id, time.Now()); rec != nil {
		return rec, true, nil
	}
	rec, err := r.store.Get(ctx, id)
	return rec, false, err
}

func (r *Recorder) handleGet(w http.ResponseWriter, req *http.Request) {
	rec, _, err := r.lookup(req.Context(), req.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (r *Recorder) handleAudio(w http.ResponseWriter, req *http.Request) {
	rec, _, err := r.lookup(req.Context(), req.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	name, download := AudioFile, rec.ID+".wav"
	if ch := req.URL.Query().Get("channel"); ch != "" {
		n, err := strconv.Atoi(ch)
		if err != nil || n < 0 || n >= len(rec.Audio.PartyFiles) {
			writeError(w, http.StatusNotFound, fmt.Errorf("no per-party file for channel %q", ch))
			return
		}
		name, download = rec.Audio.PartyFiles[n], fmt.Sprintf("%s-ch%d.wav", rec.ID, n)
	}
	r.serveFile(w, req, r.store.Path(rec, name), "audio/wav", download)
}

func (r *Recorder) handleMetadata(w http.ResponseWriter, req *http.Request) {
	rec, _, err := r.lookup(req.Context(), req.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	r.serveFile(w, req, r.store.Path(rec, MetadataFile), "application/rs-metadata+xml", rec.ID+".xml")
}

// serveFile serves a recording file with Range support (http.ServeContent).
func (r *Recorder) serveFile(w http.ResponseWriter, req *http.Request, path, ctype, download string) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			writeError(w, http.StatusNotFound, errors.New("file not present"))
			return
		}
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+download+`"`)
	http.ServeContent(w, req, download, st.ModTime(), f)
}

func (r *Recorder) handleDelete(w http.ResponseWriter, req *http.Request) {
	_, live, err := r.lookup(req.Context(), req.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	if live {
		writeError(w, http.StatusConflict, errors.New("recording is live; it can be deleted once it ends"))
		return
	}
	if err := r.store.Delete(req.Context(), req.PathValue("id")); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *Recorder) handleSessions(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	out := []*Recording{}
	for _, s := range r.liveSessions() {
		s.mu.Lock()
		if !s.ended {
			out = append(out, s.snapshotLocked(now))
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (r *Recorder) handleKeep(w http.ResponseWriter, req *http.Request) {
	uuid := req.PathValue("calluuid")
	if uuid == "" {
		uuid = req.URL.Query().Get("call_uuid")
	}
	ids, err := r.Keep(req.Context(), uuid)
	switch {
	case errors.Is(err, ErrKeepPending):
		writeJSON(w, http.StatusAccepted, map[string]any{"call_uuid": uuid, "kept": []string{}, "pending": true})
	case err != nil:
		writeError(w, statusFor(err), err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"call_uuid": uuid, "kept": ids})
	}
}
