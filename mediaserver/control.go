package mediaserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sipx"
)

// onInfo runs MSML requests sent on a leg's dialog.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) error {
	l := s.findLeg(req)
	if l == nil {
		if s.findRS(req) != nil {
			return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
		return sipx.Status(481, "", errors.New("INFO for an unknown dialog"))
	}
	ct := req.ContentType()
	mt := ""
	if ct != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]))
	}
	if mt != msml.ContentType {
		res := sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", msml.ContentType))
		return tx.Respond(res)
	}
	if len(req.Body()) > msml.MaxSize {
		return sipx.Errorf(413, "Request Entity Too Large", "MSML body of %d bytes exceeds %d", len(req.Body()), msml.MaxSize)
	}
	mreq, err := msml.ParseRequest(req.Body())
	var result msml.Result
	if err != nil {
		result = msml.ResultFor(err)
	} else {
		l.log.Info("msml request", "request", mreq.String())
		result = l.conf.execute(l, mreq)
	}
	code, reason := sipStatusFor(result.Code)
	if result.Code != msml.CodeOK {
		l.log.Info("msml request refused", "code", result.Code, "description", result.Description)
	}
	res := sip.NewResponseFromRequest(req, code, reason, result.Marshal())
	res.AppendHeader(sip.NewHeader("Content-Type", msml.ContentType))
	if result.Code != msml.CodeOK {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf(`399 %s "MSML %d: %s"`, s.advertise, result.Code, strings.ReplaceAll(result.Description, `"`, "'"))))
	}
	return tx.Respond(res)
}

// sipStatusFor maps an MSML response code to the INFO's SIP status: 200
// for success, 404 when an object does not exist, 500 for internal errors,
// 400 for every other refusal. The body always carries the MSML result.
func sipStatusFor(code int) (int, string) {
	switch {
	case code == msml.CodeOK:
		return 200, "OK"
	case code == msml.CodeNoSuchObject:
		return 404, "Not Found"
	case code >= 500:
		return 500, "Server Internal Error"
	}
	return 400, "Bad Request"
}

// execute carries out one MSML request received on leg from.
func (c *conference) execute(from *leg, r *msml.Request) msml.Result {
	if r.Conf != c.id {
		return msml.ResultFor(msml.Errorf(msml.CodeNoSuchObject, "conference %s is not this dialog's conference (%s)", r.Conf, c.id))
	}
	switch r.Op {
	case msml.OpRecord:
		id, err := c.startRecording(from, r)
		if err != nil {
			return msml.ResultFor(err)
		}
		return msml.Result{Code: msml.CodeOK, DialogID: msml.DialogID(c.id, id)}
	case msml.OpPause, msml.OpResume, msml.OpStop:
		c.mu.Lock()
		rec := c.recs[r.RecordingID]
		if rec != nil && r.Op == msml.OpStop {
			c.removeRecordingLocked(r.RecordingID)
			c.rewireLocked()
		}
		c.mu.Unlock()
		if rec == nil {
			return msml.ResultFor(msml.Errorf(msml.CodeNoSuchObject, "no recording %s in conference %s", r.RecordingID, c.id))
		}
		switch r.Op {
		case msml.OpPause:
			rec.pause()
		case msml.OpResume:
			rec.resume()
		case msml.OpStop:
			// BYEs go out in the background; the INFO is answered at once.
			c.srv.goStop(rec)
		}
		return msml.Result{Code: msml.CodeOK}
	case msml.OpJoin:
		return msml.ResultFor(c.join(r))
	case msml.OpUnjoin:
		return msml.ResultFor(c.unjoin(r))
	}
	return msml.ResultFor(msml.Errorf(msml.CodeBadRequest, "operation %s", r.Op))
}

func (c *conference) removeRecordingLocked(id string) {
	delete(c.recs, id)
	for i, x := range c.recOrder {
		if x == id {
			c.recOrder = append(c.recOrder[:i], c.recOrder[i+1:]...)
			break
		}
	}
}

// goStop stops a recording without blocking the caller.
func (s *Server) goStop(r *recording) {
	if !s.spawn(r.stop) {
		r.stop()
	}
}

// startRecording resolves a record request against the conference and the
// configured defaults, and starts its destinations.
func (c *conference) startRecording(from *leg, r *msml.Request) (string, error) {
	cfg := c.srv.cfg
	p := *r.Record
	if p.Mode == "" {
		p.Mode = msml.Mode(cfg.RecordMode)
	}
	if p.Sessions == "" {
		p.Sessions = msml.Sessions(cfg.SessionLayout)
	}
	if p.SRTP == "" {
		p.SRTP = cfg.SRTP
	}
	if p.Transport == "" {
		p.Transport = cfg.Transport
	}
	if p.Side == "" {
		p.Side = msml.SideBoth
	}
	if p.Transport != "" && !c.srv.SIPAddr(p.Transport).IsValid() {
		return "", msml.Errorf(msml.CodeInvalidValue, "transport %s: the media server has no %s listener for the recorder's in-dialog requests", p.Transport, p.Transport)
	}
	if len(p.Dests) == 0 {
		if cfg.DefaultDestination == "" {
			return "", msml.Errorf(msml.CodeInvalidValue, "no <dest> given and no default-destination configured")
		}
		p.Dests = []msml.Dest{{URI: cfg.DefaultDestination}}
	}
	dests := make([]*destination, 0, len(p.Dests))
	for _, d := range p.Dests {
		dst, err := c.srv.resolveDest(d, p.Mode)
		if err != nil {
			return "", err
		}
		dests = append(dests, dst)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return "", msml.Errorf(msml.CodeNoSuchObject, "conference %s ended", c.id)
	}
	id := r.RecordingID
	if id == "" {
		id = newRecordingID()
	}
	if _, dup := c.recs[id]; dup {
		return "", msml.Errorf(msml.CodeObjectExists, "recording %s already runs in conference %s", id, c.id)
	}
	if p.RecordDN == "" {
		p.RecordDN = from.dn
		if from.role != roleParty {
			if parties := c.partiesLocked(); len(parties) > 0 {
				p.RecordDN = parties[0].dn
			}
		}
	}
	if c.legByDNLocked(p.RecordDN) == nil {
		return "", msml.Errorf(msml.CodeNoSuchObject, "no leg with DN %s in conference %s", p.RecordDN, c.id)
	}
	if p.OtherDN == "" {
		if o := c.otherPartyLocked(p.RecordDN); o != nil {
			p.OtherDN = o.dn
		}
	}
	var dns []string
	switch p.Side {
	case msml.SideBoth:
		dns = []string{p.RecordDN}
		if p.OtherDN != "" && p.OtherDN != p.RecordDN {
			dns = append(dns, p.OtherDN)
		}
	case msml.SideSource:
		dns = []string{p.RecordDN}
	case msml.SideDestination:
		if p.OtherDN == "" {
			return "", msml.Errorf(msml.CodeNoSuchObject, "side destination: no other party in conference %s", c.id)
		}
		dns = []string{p.OtherDN}
	}
	rec, err := newRecording(c, id, from.dn, p, dns, dests)
	if err != nil {
		return "", err
	}
	c.recs[id] = rec
	c.recOrder = append(c.recOrder, id)
	rec.start()
	c.rewireLocked()
	c.srv.stats.recordings.Add(1)
	c.log.Info("recording started", "recording", id, "parties", dns, "dests", len(dests), "mode", p.Mode, "sessions", p.Sessions)
	return id, nil
}

func newRecordingID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rec-" + hex.EncodeToString(b[:])
}

// resolveDest checks one destination: a SIP URI (parsed) or a file: URI
// that must lie under the configured local-dir.
func (s *Server) resolveDest(d msml.Dest, mode msml.Mode) (*destination, error) {
	dst := &destination{uri: d.URI, mode: d.Mode, direct: d.Direct}
	if dst.mode == "" {
		dst.mode = mode
	}
	if d.IsFile() {
		dir, err := s.localPath(d.URI)
		if err != nil {
			return nil, err
		}
		dst.fileDir = dir
		return dst, nil
	}
	var u sip.Uri
	if err := sip.ParseUri(d.URI, &u); err != nil || u.Host == "" {
		return nil, msml.Errorf(msml.CodeInvalidValue, "destination %q is not a SIP URI", d.URI)
	}
	dst.sipURI = u
	return dst, nil
}

// localPath maps file:, file://, file:/// and file:///<dir> to a directory
// under local-dir; anything outside it is refused, so an MSML client cannot
// make the media server write elsewhere.
func (s *Server) localPath(raw string) (string, error) {
	base, err := filepath.Abs(s.cfg.LocalDir)
	if err != nil {
		return "", msml.Errorf(msml.CodeInternal, "local-dir: %v", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", msml.Errorf(msml.CodeInvalidValue, "destination %q: %v", raw, err)
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", msml.Errorf(msml.CodeInvalidValue, "destination %q names a remote host", raw)
	}
	p := u.Path
	if p == "" {
		p = u.Opaque
	}
	if p == "" || p == "/" {
		return base, nil
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	p = filepath.Clean(p)
	if p != base && !strings.HasPrefix(p, base+string(filepath.Separator)) {
		return "", msml.Errorf(msml.CodeInvalidValue, "destination %q lies outside the media server's local-dir %s", raw, base)
	}
	return p, nil
}

// join makes a leg the monitoring supervisor.
func (c *conference) join(r *msml.Request) error {
	c.mu.Lock()
	sup := c.legByDNLocked(r.Conn)
	switch {
	case sup == nil:
		c.mu.Unlock()
		return msml.Errorf(msml.CodeNoSuchObject, "no leg with DN %s in conference %s", r.Conn, c.id)
	case sup.role == roleParty:
		c.mu.Unlock()
		return msml.Errorf(msml.CodeInvalidValue, "conn:%s is a party of the call, not a supervisor", r.Conn)
	case c.mix != nil:
		c.mu.Unlock()
		return msml.Errorf(msml.CodeObjectExists, "conference %s is already monitored by %s", c.id, c.mix.sup.dn)
	}
	mode := r.JoinMode
	if mode == "" {
		mode = msml.JoinMute
	}
	if mode == msml.JoinCoach {
		if a := c.legByDNLocked(r.Agent); a == nil || a.role != roleParty {
			c.mu.Unlock()
			return msml.Errorf(msml.CodeNoSuchObject, "coach mode: no party with DN %s in conference %s", r.Agent, c.id)
		}
	}
	m := newMixer(c, sup, mode, r.Agent)
	c.mix = m
	sup.role = roleSupervisor
	c.rewireLocked()
	recs := make([]*recording, 0, len(c.recOrder))
	for _, id := range c.recOrder {
		recs = append(recs, c.recs[id])
	}
	c.mu.Unlock()
	m.started.Store(true)
	if !c.srv.spawn(m.loopUntilStopped) {
		m.started.Store(false)
	}
	for _, rec := range recs {
		rec.addParty(sup.dn)
	}
	c.rewire()
	c.log.Info("supervisor joined", "dn", sup.dn, "mode", mode, "agent", r.Agent)
	return nil
}

// unjoin returns the supervisor leg to pending: it hears nothing again.
func (c *conference) unjoin(r *msml.Request) error {
	c.mu.Lock()
	if c.mix == nil || c.mix.sup.dn != r.Conn {
		c.mu.Unlock()
		return msml.Errorf(msml.CodeNoSuchObject, "conn:%s is not joined to conference %s", r.Conn, c.id)
	}
	m := c.mix
	c.mix = nil
	m.sup.role = rolePending
	c.rewireLocked()
	recs := make([]*recording, 0, len(c.recOrder))
	for _, id := range c.recOrder {
		recs = append(recs, c.recs[id])
	}
	c.mu.Unlock()
	m.stop()
	for _, rec := range recs {
		rec.removeParty(r.Conn)
	}
	c.rewire()
	c.log.Info("supervisor left", "dn", r.Conn)
	return nil
}
