package sipserver

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// defaultExpires is the registration lifetime when REGISTER names none
// (RFC 3261 10.2.1.1 suggests one hour).
const defaultExpires = time.Hour

// binding is the contact a DN's phone registered: where calls to the DN go.
type binding struct {
	DN        string    `json:"dn"`
	Contact   string    `json:"contact"`
	Transport string    `json:"transport"` // udp, tcp or tls
	Source    string    `json:"source"`
	Expires   time.Time `json:"expires"`

	uri    sip.Uri
	callID string
	cseq   uint32
}

// registrar keeps one contact binding per DN: a DN is one phone, and the
// latest REGISTER wins. Expired bindings are dropped when looked at, so no
// goroutine is needed to sweep them.
type registrar struct {
	now        func() time.Time
	maxExpires time.Duration

	mu sync.Mutex
	by map[string]binding
}

func newRegistrar(maxExpires time.Duration) *registrar {
	return &registrar{now: time.Now, maxExpires: maxExpires, by: map[string]binding{}}
}

// lookup returns the live binding of dn.
func (r *registrar) lookup(dn string) (binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.by[dn]
	if !ok {
		return binding{}, false
	}
	if !r.now().Before(b.Expires) {
		delete(r.by, dn)
		return binding{}, false
	}
	b.uri = *b.uri.Clone()
	return b, true
}

// list returns the live bindings ordered by DN.
func (r *registrar) list() []binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]binding, 0, len(r.by))
	for dn, b := range r.by {
		if !now.Before(b.Expires) {
			delete(r.by, dn)
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b binding) int { return strings.Compare(a.DN, b.DN) })
	return out
}

// errStaleRegister is a REGISTER older than the binding it would change
// (same Call-ID, CSeq not higher: RFC 3261 10.3 step 7).
var errStaleRegister = errors.New("REGISTER CSeq is not above the binding's")

// onRegister is the registrar (RFC 3261 10.3) for configured DNs.
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) error {
	to := req.To()
	if to == nil || to.Address.User == "" {
		return sipx.Errorf(400, "", "REGISTER without a To user")
	}
	dn := to.Address.User
	d, ok := s.dns[dn]
	if !ok {
		return sipx.Errorf(404, "Not Found", "DN %s is not configured", dn)
	}
	if d.Type == RoutingPoint {
		return sipx.Errorf(403, "Forbidden", "DN %s is a routing point; phones cannot register it", dn)
	}
	callID := sipx.CallID(req)
	var cseq uint32
	if h := req.CSeq(); h != nil {
		cseq = h.SeqNo
	}

	expires := defaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		secs, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || secs < 0 {
			return sipx.Errorf(400, "", "bad Expires %q", h.Value())
		}
		expires = time.Duration(secs) * time.Second
	}

	var contacts []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		if ch, ok := h.(*sip.ContactHeader); ok {
			contacts = append(contacts, ch)
		}
	}
	if len(contacts) > 1 {
		// A DN is one phone; several contacts in one REGISTER would make
		// "which one rings" arbitrary.
		return sipx.Errorf(400, "", "one Contact per REGISTER, got %d", len(contacts))
	}

	r := s.reg
	r.mu.Lock()
	cur, have := r.by[dn]
	if have && !r.now().Before(cur.Expires) {
		delete(r.by, dn)
		have = false
	}
	if have && cur.callID == callID && cseq <= cur.cseq {
		r.mu.Unlock()
		return sipx.Status(400, "", errStaleRegister)
	}
	switch {
	case len(contacts) == 0:
		// A query: answer with the current binding.
	case contacts[0].Address.Wildcard:
		if expires != 0 {
			r.mu.Unlock()
			return sipx.Errorf(400, "", "Contact: * needs Expires: 0")
		}
		delete(r.by, dn)
		have = false
	default:
		ch := contacts[0]
		exp := expires
		if v, ok := ch.Params.Get("expires"); ok {
			secs, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || secs < 0 {
				r.mu.Unlock()
				return sipx.Errorf(400, "", "bad contact expires %q", v)
			}
			exp = time.Duration(secs) * time.Second
		}
		exp = min(exp, r.maxExpires)
		uri := *ch.Address.Clone()
		if exp == 0 {
			if have && cur.uri.String() == uri.String() {
				delete(r.by, dn)
				have = false
			}
			break
		}
		cur = binding{
			DN: dn, Contact: uri.String(), Transport: strings.ToLower(req.Transport()),
			Source: req.Source(), Expires: r.now().Add(exp),
			uri: uri, callID: callID, cseq: cseq,
		}
		if t, ok := uri.UriParams.Get("transport"); ok {
			cur.Transport = strings.ToLower(t)
		}
		r.by[dn] = cur
		have = true
	}
	left := int(cur.Expires.Sub(r.now()).Round(time.Second).Seconds())
	r.mu.Unlock()

	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if have {
		c := &sip.ContactHeader{Address: *cur.uri.Clone(), Params: sip.NewParams()}
		c.Params.Add("expires", strconv.Itoa(left))
		res.AppendHeader(c)
		s.log.Debug("registered", "dn", dn, "contact", cur.Contact, "transport", cur.Transport, "expires", left)
	} else {
		s.log.Debug("unregistered", "dn", dn)
	}
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("register %s: %w", dn, err)
	}
	return nil
}
