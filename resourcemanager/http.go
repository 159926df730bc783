package resourcemanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// startHTTP serves the API: GET /api/groups, GET /api/groups/{group},
// POST /api/groups/{group}/members/{member}/drain and …/undrain, GET /metrics
// and GET /healthz.
func (r *RM) startHTTP() error {
	ln, err := net.Listen("tcp", r.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("resourcemanager.http: %w", err)
	}
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		return fmt.Errorf("resourcemanager.http: %w", err)
	}
	r.httpAddr = ap
	r.httpSrv = &http.Server{
		Handler:           r.apiHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	srv := r.httpSrv
	if !r.goBG(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Warn("http server stopped", "error", err)
		}
	}) {
		ln.Close()
		return ErrClosed
	}
	return nil
}

func (r *RM) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/groups", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"groups": r.Groups()})
	})
	mux.HandleFunc("GET /api/groups/{group}", func(w http.ResponseWriter, req *http.Request) {
		name := req.PathValue("group")
		for _, g := range r.Groups() {
			if g.Name == name {
				writeJSON(w, http.StatusOK, g)
				return
			}
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("%w %q", ErrUnknownGroup, name))
	})
	drain := func(on bool) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			st, err := r.Drain(req.PathValue("group"), req.PathValue("member"), on)
			if err != nil {
				writeError(w, http.StatusNotFound, err)
				return
			}
			writeJSON(w, http.StatusOK, st)
		}
	}
	mux.HandleFunc("POST /api/groups/{group}/members/{member}/drain", drain(true))
	mux.HandleFunc("POST /api/groups/{group}/members/{member}/undrain", drain(false))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(r.metrics())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
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
