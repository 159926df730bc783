package mediaserver

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
)

// eventTimeout bounds one event INFO.
const eventTimeout = 5 * time.Second

// sendEvent tells the SIP Server about a recording destination, with an INFO
// carrying an MSML <event> on the dialog the record request came on (or, if
// that leg is gone, on another leg of the conference). It does not block.
func (s *Server) sendEvent(r *recording, name string, params ...msml.Param) {
	ev := msml.Event{Name: name, Conf: r.conf.id, RecordingID: r.id, Params: params}
	s.stats.events.Add(1)
	s.spawn(func() {
		l := r.conf.eventLeg(r.ctrlDN)
		if l == nil {
			r.log.Warn("no leg left to report an event on", "event", name)
			return
		}
		req := sip.NewRequest(sip.INFO, l.remoteTarget())
		req.AppendHeader(sip.NewHeader("Content-Type", msml.ContentType))
		req.SetBody(ev.Marshal())
		ctx, cancel := context.WithTimeout(s.ctx, eventTimeout)
		defer cancel()
		res, err := l.ds.Do(ctx, req)
		switch {
		case err != nil:
			r.log.Warn("event INFO failed", "event", name, "error", err)
		case !res.IsSuccess():
			r.log.Warn("event INFO refused", "event", name, "code", res.StatusCode)
		default:
			r.log.Debug("event sent", "event", name, "to", l.dn)
		}
	})
}

// eventLeg picks the leg events of a recording go to.
func (c *conference) eventLeg(dn string) *leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.legByDNLocked(dn); l != nil {
		return l
	}
	for _, l := range c.legs {
		if l.ds != nil {
			return l
		}
	}
	return nil
}
