package sipserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// CallInfo is a call as /api/calls shows it.
type CallInfo struct {
	ConnID       string            `json:"conn_id"`
	CallUUID     string            `json:"call_uuid"`
	CallID       string            `json:"call_id"`
	Type         string            `json:"type"`
	State        string            `json:"state"`
	ANI          string            `json:"ani"`
	DNIS         string            `json:"dnis"`
	Origin       string            `json:"origin"`
	Destination  string            `json:"destination"`
	RoutingPoint string            `json:"routing_point,omitempty"`
	Route        *Route            `json:"route,omitempty"`
	UserData     map[string]string `json:"user_data,omitempty"`
	Created      time.Time         `json:"created"`
	Answered     time.Time         `json:"answered,omitzero"`
	Legs         []LegInfo         `json:"legs"`
	// Media is where the call's media is anchored (absent: end to end).
	Media *MediaInfo `json:"media,omitempty"`
	// Recordings are the call's recordings, one per recorded side.
	Recordings []RecordingInfo `json:"recordings,omitempty"`
	// Monitor is the supervisor monitoring the call.
	Monitor *MonitorInfo `json:"monitor,omitempty"`
}

// MediaInfo is a call's anchor on a media server.
type MediaInfo struct {
	Conference  string    `json:"conference"`
	MediaServer string    `json:"media_server"` // its Contact host:port
	Legs        []LegInfo `json:"legs"`         // media-control legs (party DN in party)
}

// RecordingInfo is one recording of a call.
type RecordingInfo struct {
	ID        string `json:"id"`
	Side      string `json:"side"`                // origin or destination: whose recording
	RecordDN  string `json:"record_dn"`           // the recorded side's party
	State     string `json:"state"`               // GSIP_RECORD value, or "starting"
	By        string `json:"by"`                  // dn, prerecord, route, request
	Prerecord bool   `json:"prerecord,omitempty"` // still tentative
	FileName  string `json:"file_name"`           // GSIP_REC_FN
	Reason    string `json:"reason,omitempty"`
}

// MonitorInfo is the supervisor monitoring a call.
type MonitorInfo struct {
	Supervisor string `json:"supervisor"`
	Agent      string `json:"agent"`
	Mode       string `json:"mode"`
	Scope      string `json:"scope"`
	Joined     bool   `json:"joined"`
}

// LegInfo is one SIP dialog of a call.
type LegInfo struct {
	Side         string `json:"side"`      // origin or destination
	Direction    string `json:"direction"` // in: the party called us; out: we called it
	Party        string `json:"party"`
	SIPCallID    string `json:"sip_call_id"`
	Transport    string `json:"transport"`
	State        string `json:"state"`
	Held         bool   `json:"held,omitempty"`
	RemoteTarget string `json:"remote_target,omitempty"`
	LocalSDP     string `json:"local_sdp,omitempty"`
	RemoteSDP    string `json:"remote_sdp,omitempty"`
}

// Calls returns the calls in the call table, oldest first: live calls and
// released ones whose legs are still hanging up.
func (s *Server) Calls() []CallInfo {
	calls := s.liveCalls()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.info())
	}
	slices.SortFunc(out, func(a, b CallInfo) int { return a.Created.Compare(b.Created) })
	return out
}

func (c *call) info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := CallInfo{
		ConnID: c.connID, CallUUID: c.uuid, CallID: c.callID, Type: c.typ, State: c.state.String(),
		ANI: c.ani, DNIS: c.dnis, Origin: c.parties[sideOrigin].number, Destination: c.parties[sideDest].number,
		RoutingPoint: c.rp, UserData: maps.Clone(c.userData), Created: c.created, Answered: c.answered,
		Legs: []LegInfo{},
	}
	if c.route != nil {
		r := *c.route
		r.Extensions = maps.Clone(r.Extensions)
		ci.Route = &r
	}
	for _, l := range c.legs {
		if l == nil {
			continue
		}
		dir := "in"
		if l.dir == legOut {
			dir = "out"
		}
		li := LegInfo{
			Side: l.side.String(), Direction: dir, Party: c.parties[l.side].number,
			SIPCallID: l.sipCallID, Transport: strings.ToLower(l.transport), State: l.state.String(),
			Held: l.held, LocalSDP: string(l.localSDP), RemoteSDP: string(l.remoteSDP),
		}
		if l.remoteTarget.Host != "" {
			li.RemoteTarget = l.remoteTarget.String()
		}
		ci.Legs = append(ci.Legs, li)
	}
	if m := c.media; m != nil {
		mi := &MediaInfo{Conference: m.conf, MediaServer: m.msKey, Legs: []LegInfo{}}
		for _, l := range []*leg{m.legs[sideOrigin], m.legs[sideDest], m.sup} {
			if l != nil {
				mi.Legs = append(mi.Legs, LegInfo{
					Side: l.side.String(), Direction: "out", Party: l.dn, SIPCallID: l.sipCallID,
					Transport: strings.ToLower(l.transport), State: l.state.String(),
					RemoteTarget: l.remoteTarget.String(), LocalSDP: string(l.localSDP), RemoteSDP: string(l.remoteSDP),
				})
			}
		}
		ci.Media = mi
	}
	for _, r := range c.recs {
		if r == nil || r.planned {
			continue
		}
		st := r.gsip()
		if st == "" {
			st = "starting"
		}
		ci.Recordings = append(ci.Recordings, RecordingInfo{
			ID: r.id, Side: r.side.String(), RecordDN: c.parties[r.side].number, State: st, By: r.by,
			Prerecord: r.tentative, FileName: r.fileName, Reason: r.reason,
		})
	}
	if ms := c.mon; ms != nil {
		ci.Monitor = &MonitorInfo{Supervisor: ms.info.supervisor, Agent: c.parties[ms.agentSide].number,
			Mode: ms.info.mode, Scope: ms.info.scope, Joined: c.media != nil && c.media.supJoined}
	}
	return ci
}

func (s *Server) startHTTP() error {
	ln, err := net.Listen("tcp", s.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("sipserver: http listen %s: %w", s.cfg.HTTP, err)
	}
	s.httpLn = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(s.metrics.render(len(s.liveCalls()), len(s.reg.list())))
	})
	mux.HandleFunc("GET /api/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"calls": s.Calls()})
	})
	mux.HandleFunc("GET /api/registrations", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"registrations": s.reg.list()})
	})
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	s.httpDone = make(chan struct{})
	go func() {
		defer close(s.httpDone)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("http server stopped", "error", err)
		}
	}()
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
