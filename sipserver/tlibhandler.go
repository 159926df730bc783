package sipserver

import (
	"context"

	"github.com/arlab/arlab/tlib"
)

// tlibHandler performs the call requests of T-lib clients; the tlib Server
// has already checked that the client opened and registered ThisDN.
type tlibHandler struct{ s *Server }

var _ tlib.Handler = (*tlibHandler)(nil)

func (h *tlibHandler) KnownDN(dn string) bool {
	_, ok := h.s.dns[dn]
	return ok
}

func (h *tlibHandler) HandleRequest(ctx context.Context, ci *tlib.ClientInfo, req *tlib.Message) error {
	s := h.s
	err := s.handleRequest(ctx, ci, req)
	s.metrics.tlibRequest(err != nil)
	return err
}

func (s *Server) handleRequest(_ context.Context, ci *tlib.ClientInfo, req *tlib.Message) error {
	switch req.Name {
	case tlib.RequestRouteCall:
		return s.routeCall(ci, req)
	case tlib.RequestAttachUserData:
		return s.changeUserData(ci, req, mergeAttach)
	case tlib.RequestUpdateUserData:
		return s.changeUserData(ci, req, mergeUpdate)
	case tlib.RequestDeleteUserData:
		return s.changeUserData(ci, req, mergeDelete)
	case tlib.RequestReleaseCall:
		return s.releaseCall(ci, req)
	case tlib.RequestMakeCall:
		return s.makeCall(ci, req)
	case tlib.RequestAnswerCall:
		return s.answerCall(ci, req)
	case tlib.RequestPrivateService:
		return s.privateService(ci, req)
	case tlib.RequestMonitorNextCall:
		return s.monitorNextCall(ci, req)
	case tlib.RequestCancelMonitoring:
		return s.cancelMonitoring(ci, req)
	}
	// RequestHoldCall, RequestRetrieveCall (phones hold with re-INVITE).
	return tlib.Errorf(tlib.ErrInvalidState, "%s is not supported by this SIP Server", req.Name)
}

// callFor finds the call of a request and checks that ThisDN is on it (as a
// party, or as the routing point it waits at). The caller gets c locked.
func (s *Server) callFor(req *tlib.Message) (*call, error) {
	c := s.lookupCall(req.ConnID)
	if c == nil {
		return nil, tlib.Errorf(tlib.ErrInvalidConnID, "no call %s", req.ConnID)
	}
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return nil, tlib.Errorf(tlib.ErrInvalidConnID, "call %s is released", req.ConnID)
	}
	if _, ok := c.partyOfLocked(req.ThisDN); ok {
		return c, nil
	}
	if c.state == callRouting && c.rp == req.ThisDN {
		return c, nil
	}
	c.mu.Unlock()
	return nil, tlib.Errorf(tlib.ErrInvalidConnID, "%s is not on call %s", req.ThisDN, req.ConnID)
}

// changeUserData performs RequestAttachUserData (new keys only),
// RequestUpdateUserData (overwrites) and RequestDeleteUserData. Every DN
// that saw the call gets EventAttachedDataChanged with the whole new user
// data; ThisDN's is the reply.
func (s *Server) changeUserData(ci *tlib.ClientInfo, req *tlib.Message, mode mergeMode) error {
	if err := checkUserDataKeys(req.UserData); err != nil {
		return err
	}
	c, err := s.callFor(req)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if err := c.mergeUserDataLocked(req.UserData, mode); err != nil {
		return err
	}
	r := &requester{client: ci.ID, ref: req.ReferenceID, dn: req.ThisDN}
	if c.state == callRouting && c.rp != "" {
		c.publishRPLocked(tlib.EventAttachedDataChanged, r, nil)
	}
	for _, sd := range []side{sideOrigin, sideDest} {
		if c.parties[sd].announced {
			c.publishLocked(tlib.EventAttachedDataChanged, sd, r, nil)
		}
	}
	return nil
}

// releaseCall performs RequestReleaseCall: the whole call ends (BYE to
// answered parties, 480 to a caller still waiting); EventReleased on ThisDN
// is the reply.
func (s *Server) releaseCall(ci *tlib.ClientInfo, req *tlib.Message) error {
	c, err := s.callFor(req)
	if err != nil {
		return err
	}
	sd, isParty := c.partyOfLocked(req.ThisDN)
	c.mu.Unlock()
	c.release(releaseCause{
		code: 480, callState: tlib.CallStateOK, endedBy: sd, byParty: isParty,
		reason: "released by " + ci.AppName + " on " + req.ThisDN, cause: tlib.RequestReleaseCall,
		req: &requester{client: ci.ID, ref: req.ReferenceID, dn: req.ThisDN},
	})
	return nil
}
