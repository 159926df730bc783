package sipserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sipx"
)

// msmlDo sends an MSML request in an INFO on a media-control leg and returns
// the media server's result. A refusal is an *msml.Error carrying the MSML
// code; a SIP failure without an MSML body is a *mediaError.
func (s *Server) msmlDo(c *call, l *leg, r *msml.Request) (*msml.Result, error) {
	if l == nil {
		return nil, errors.New("no media-control leg")
	}
	body, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	req := l.newRequest(sip.INFO, l.ackTarget())
	req.AppendHeader(sip.NewHeader("Content-Type", msml.ContentType))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(c.ctx, s.cfg.MediaControl.Timeout)
	defer cancel()
	res, err := l.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("MSML %s: %w", r.Op, err)
	}
	if len(res.Body()) > 0 {
		if result, perr := msml.ParseResult(res.Body()); perr == nil {
			return result, result.Err()
		}
	}
	if !res.IsSuccess() {
		return nil, &mediaError{kind: kindMedia, code: res.StatusCode, reason: res.Reason}
	}
	return &msml.Result{Code: msml.CodeOK}, nil
}

// onMediaInfo takes an INFO from a media server on a media-control leg: an
// MSML event about a recording (record.started, record.failed,
// record.recovered). It is answered at once; the event is then applied.
func (s *Server) onMediaInfo(l *leg, req *sip.Request, tx sip.ServerTransaction) error {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct, _, _ = strings.Cut(h.Value(), ";")
		ct = strings.ToLower(strings.TrimSpace(ct))
	}
	if ct != msml.ContentType {
		res := sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", msml.ContentType))
		return tx.Respond(res)
	}
	if len(req.Body()) > msml.MaxSize {
		return sipx.Errorf(413, "Request Entity Too Large", "MSML body of %d bytes", len(req.Body()))
	}
	ev, err := msml.ParseEvent(req.Body())
	if err != nil {
		return sipx.Status(400, "Bad Request", err)
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)); err != nil {
		return err
	}
	l.c.log.Debug("media server event", "event", ev.Name, "recording", ev.RecordingID, "conf", ev.Conf)
	l.c.onRecordEvent(ev)
	return nil
}
