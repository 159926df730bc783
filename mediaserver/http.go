package mediaserver

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync/atomic"
	"time"
)

// serverStats are the cumulative counters of /metrics.
type serverStats struct {
	conferences, legs, recordings atomic.Uint64
	rsUp, rsFailed, events        atomic.Uint64
}

func (s *Server) startHTTP() error {
	ln, err := net.Listen("tcp", s.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("mediaserver: http listen %s: %w", s.cfg.HTTP, err)
	}
	s.httpAddr = ln.Addr().(*net.TCPAddr).AddrPort()
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.spawn(func() {
		if err := s.httpSrv.Serve(ln); err != nil && err != http.ErrServerClosed {
			s.log.Error("http server", "error", err)
		}
	})
	return nil
}

// Handler returns the HTTP API: /healthz, /metrics, /api/conferences.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	mux.HandleFunc("GET /api/conferences", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Conferences())
	})
	mux.HandleFunc("GET /api/conferences/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range s.Conferences() {
			if c.ID == r.PathValue("id") {
				writeJSON(w, c)
				return
			}
		}
		http.Error(w, "no such conference", http.StatusNotFound)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ConferenceInfo describes a live conference.
type ConferenceInfo struct {
	ID         string          `json:"id"`
	Created    time.Time       `json:"created"`
	Legs       []LegInfo       `json:"legs"`
	Recordings []RecordingInfo `json:"recordings"`
	Supervisor string          `json:"supervisor,omitempty"`
	JoinMode   string          `json:"join_mode,omitempty"`
}

// LegInfo describes one media-control leg.
type LegInfo struct {
	DN        string `json:"dn"`
	Role      string `json:"role"`
	CallID    string `json:"call_id"`
	LocalRTP  string `json:"local_rtp"`
	RemoteRTP string `json:"remote_rtp,omitempty"`
	Codec     string `json:"codec"`
	SRTP      bool   `json:"srtp"`
	RxPackets uint64 `json:"rx_packets"`
	RxDropped uint64 `json:"rx_dropped"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxSSRC    uint32 `json:"tx_ssrc"`
}

// RecordingInfo describes one recording and its destinations.
type RecordingInfo struct {
	ID           string     `json:"id"`
	RecordDN     string     `json:"record_dn"`
	OtherDN      string     `json:"other_dn,omitempty"`
	CallUUID     string     `json:"call_uuid,omitempty"`
	Mode         string     `json:"mode"`
	Sessions     string     `json:"sessions"`
	Parties      []string   `json:"parties"`
	Paused       bool       `json:"paused"`
	Destinations []DestInfo `json:"destinations"`
}

// DestInfo describes one destination.
type DestInfo struct {
	URI      string        `json:"uri"`
	Mode     string        `json:"mode,omitempty"`
	File     string        `json:"file,omitempty"`
	Sessions []SessionInfo `json:"sessions,omitempty"`
}

// SessionInfo describes one recording session (one SIP dialog to a recorder).
type SessionInfo struct {
	State        string       `json:"state"`
	CallID       string       `json:"call_id,omitempty"`
	Recorder     string       `json:"recorder,omitempty"`
	Continuation bool         `json:"continuation,omitempty"`
	LastFailure  string       `json:"last_failure,omitempty"`
	Streams      []StreamInfo `json:"streams"`
}

// StreamInfo describes one recorded stream of a session.
type StreamInfo struct {
	DN      string `json:"dn"`
	Label   string `json:"label"`
	Local   string `json:"local"`
	Remote  string `json:"remote"`
	Enabled bool   `json:"enabled"`
	SSRC    uint32 `json:"ssrc"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	Errors  uint64 `json:"errors"`
}

// Conferences returns a snapshot of the live conferences, sorted by id.
func (s *Server) Conferences() []ConferenceInfo {
	confs := s.conferences()
	sort.Slice(confs, func(i, j int) bool { return confs[i].id < confs[j].id })
	out := make([]ConferenceInfo, 0, len(confs))
	for _, c := range confs {
		out = append(out, c.info())
	}
	return out
}

func (c *conference) info() ConferenceInfo {
	ci := ConferenceInfo{ID: c.id, Created: c.created, Legs: []LegInfo{}, Recordings: []RecordingInfo{}}
	c.mu.Lock()
	if c.mix != nil {
		ci.Supervisor, ci.JoinMode = c.mix.sup.dn, string(c.mix.mode)
	}
	legs := append([]*leg(nil), c.legs...)
	roles := make([]string, len(legs))
	for i, l := range legs {
		roles[i] = l.role
	}
	c.mu.Unlock()
	for i, l := range legs {
		rx := l.rx.Load()
		p, _, e := l.toParty.stats()
		ci.Legs = append(ci.Legs, LegInfo{
			DN: l.dn, Role: roles[i], CallID: l.callID, LocalRTP: l.local.String(),
			RemoteRTP: l.toParty.dest().String(), Codec: rx.law.String(), SRTP: rx.srtp != nil,
			RxPackets: l.rxPackets.Load(), RxDropped: l.rxDropped.Load(), TxPackets: p, TxErrors: e,
			TxSSRC: l.toParty.ssrc,
		})
	}
	for _, r := range c.recordings() {
		ci.Recordings = append(ci.Recordings, r.info())
	}
	return ci
}

func (r *recording) info() RecordingInfo {
	r.mu.Lock()
	ri := RecordingInfo{ID: r.id, RecordDN: r.params.RecordDN, OtherDN: r.params.OtherDN, CallUUID: r.params.CallUUID,
		Mode: string(r.params.Mode), Sessions: string(r.params.Sessions), Paused: r.paused}
	for _, p := range r.parties {
		if !p.left {
			ri.Parties = append(ri.Parties, p.dn)
		}
	}
	type destSnap struct {
		d        *destination
		sessions []*recSession
	}
	dests := make([]destSnap, 0, len(r.dests))
	for _, d := range r.dests {
		dests = append(dests, destSnap{d, append([]*recSession(nil), d.sessions...)})
	}
	r.mu.Unlock()
	for _, ds := range dests {
		di := DestInfo{URI: ds.d.uri}
		if ds.d.file != nil {
			di.File = ds.d.file.path
		} else {
			di.Mode = string(ds.d.mode)
		}
		for _, rs := range ds.sessions {
			di.Sessions = append(di.Sessions, rs.snapshot())
		}
		ri.Destinations = append(ri.Destinations, di)
	}
	return ri
}

func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	var legs, recs, nUp int
	var rx, drop, relayed, copied uint64
	for _, c := range s.conferences() {
		for _, l := range c.snapshotLegs() {
			legs++
			rx += l.rxPackets.Load()
			drop += l.rxDropped.Load()
			p, _, _ := l.toParty.stats()
			relayed += p
		}
		for _, r := range c.recordings() {
			recs++
			ri := r.info()
			for _, d := range ri.Destinations {
				for _, rs := range d.Sessions {
					if rs.State == rsUp {
						nUp++
					}
					for _, st := range rs.Streams {
						copied += st.Packets
					}
				}
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	m := func(name, typ, help string, v any) {
		_, _ = fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	m("arlab_mediaserver_conferences", "gauge", "Live conferences.", len(s.conferences()))
	m("arlab_mediaserver_legs", "gauge", "Live media-control legs.", legs)
	m("arlab_mediaserver_recordings", "gauge", "Live recordings.", recs)
	m("arlab_mediaserver_recording_sessions_up", "gauge", "Recording sessions established.", nUp)
	m("arlab_mediaserver_rtp_received_packets", "gauge", "RTP packets received on live legs.", rx)
	m("arlab_mediaserver_rtp_dropped_packets", "gauge", "Datagrams dropped on live legs (not RTP, SRTP auth failure, oversize).", drop)
	m("arlab_mediaserver_rtp_relayed_packets", "gauge", "RTP packets sent to parties on live legs.", relayed)
	m("arlab_mediaserver_rtp_recorded_packets", "gauge", "RTP packets copied to recorders by live recordings.", copied)
	m("arlab_mediaserver_conferences_total", "counter", "Conferences created.", s.stats.conferences.Load())
	m("arlab_mediaserver_legs_total", "counter", "Legs accepted.", s.stats.legs.Load())
	m("arlab_mediaserver_recordings_total", "counter", "Recordings started.", s.stats.recordings.Load())
	m("arlab_mediaserver_recording_sessions_established_total", "counter", "Recording sessions established (incl. re-established).", s.stats.rsUp.Load())
	m("arlab_mediaserver_recording_sessions_failed_total", "counter", "Recording session failures.", s.stats.rsFailed.Load())
	m("arlab_mediaserver_events_total", "counter", "MSML events sent to the SIP Server.", s.stats.events.Load())
}
