package resourcemanager

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// ErrNoGroup is wrapped by the errors of requests that map to no group.
var ErrNoGroup = errors.New("no group")

// requestTarget is what an initial request asks the RM for, read from its
// Request-URI and Require header.
type requestTarget struct {
	kind     string // KindMediaServer, KindRecorder, or "" (not a resource request)
	user     string // the Request-URI user as received (unescaped)
	confID   string // msml=<conf-id>
	group    string // group= URI parameter
	dn       string // recordDN= (preferred) or dn= URI parameter
	callUUID string // calluuid= URI parameter or X-Genesys-CallUUID header
}

// parseTarget reads the resource request out of req. It never fails: what it
// cannot read stays empty and the mapping decides.
func parseTarget(req *sip.Request) requestTarget {
	u := req.Recipient
	t := requestTarget{user: u.User}
	if s, err := url.PathUnescape(u.User); err == nil {
		t.user = s
	}
	lower := strings.ToLower(t.user)
	switch {
	case lower == "msml" || strings.HasPrefix(lower, "msml="):
		t.kind = KindMediaServer
		if len(t.user) > len("msml=") {
			t.confID = t.user[len("msml="):]
		}
	case strings.HasPrefix(lower, "record"):
		t.kind = KindRecorder
	case requiresSIPREC(req):
		t.kind = KindRecorder
	}
	t.group = uriParam(u, "group")
	t.dn = uriParam(u, "recorddn")
	if t.dn == "" {
		t.dn = uriParam(u, "dn")
	}
	t.callUUID = uriParam(u, "calluuid")
	if t.callUUID == "" {
		for _, name := range []string{"X-Genesys-CallUUID", "X-CallUUID"} {
			if h := req.GetHeader(name); h != nil {
				t.callUUID = strings.TrimSpace(h.Value())
				break
			}
		}
	}
	return t
}

// requiresSIPREC reports a `Require: siprec` (RFC 7866) request.
func requiresSIPREC(req *sip.Request) bool {
	for _, h := range req.GetHeaders("Require") {
		for _, opt := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "siprec") {
				return true
			}
		}
	}
	return false
}

// uriParam returns a URI parameter by case-insensitive name ("recordDN").
func uriParam(u sip.Uri, name string) string {
	for _, kv := range u.UriParams {
		if strings.EqualFold(kv.K, name) {
			if v, err := url.PathUnescape(kv.V); err == nil {
				return v
			}
			return kv.V
		}
	}
	return ""
}

// resolve maps a request target to a group: `group=` names it; otherwise a
// media-server request goes to the first media-server group and a recording
// request to the recorder group mapping its DN, else the first recorder group.
func resolve(groups []*group, t requestTarget) (*group, error) {
	if t.group != "" {
		for _, g := range groups {
			if g.name == t.group {
				if t.kind != "" && g.kind != t.kind {
					return nil, fmt.Errorf("%w %q for a %s request: it is a %s group", ErrNoGroup, t.group, t.kind, g.kind)
				}
				return g, nil
			}
		}
		return nil, fmt.Errorf("%w %q", ErrNoGroup, t.group)
	}
	switch t.kind {
	case KindMediaServer:
		for _, g := range groups {
			if g.kind == KindMediaServer {
				return g, nil
			}
		}
		return nil, fmt.Errorf("%w: no mediaserver group configured", ErrNoGroup)
	case KindRecorder:
		var first, best *group
		bestScore := 0
		for _, g := range groups {
			if g.kind != KindRecorder {
				continue
			}
			if first == nil {
				first = g
			}
			if t.dn != "" {
				if s := g.mapsDN(t.dn); s > bestScore {
					best, bestScore = g, s
				}
			}
		}
		if best != nil {
			return best, nil
		}
		if first != nil {
			return first, nil
		}
		return nil, fmt.Errorf("%w: no recorder group configured", ErrNoGroup)
	}
	return nil, fmt.Errorf("%w for request-uri user %q (want msml=<conf-id>, record..., Require: siprec or group=)", ErrNoGroup, t.user)
}
