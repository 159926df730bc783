package resourcemanager

import (
	"sync"
	"time"
)

// session is one dialog the RM placed on a member: it holds a slot of the
// member's capacity until its BYE passes, the member goes down, or it expires.
type session struct {
	callID    string
	callerTag string // From tag of the INVITE
	calleeTag string // To tag of the 2xx
	g         *group
	m         *member
	confID    string
	// callerTransport is how the caller reached us, for requests the member
	// sends back to a Contact without a transport parameter.
	callerTransport string
	created         time.Time
}

// sessionTable indexes sessions by Call-ID and caller tag. One mutex: every
// operation is a map access.
type sessionTable struct {
	mu    sync.Mutex
	byKey map[string]*session
}

func newSessionTable() *sessionTable {
	return &sessionTable{byKey: map[string]*session{}}
}

func sessionKey(callID, tag string) string { return callID + "\x00" + tag }

// add stores s; a session already under the same key is returned so the
// caller can release it.
func (t *sessionTable) add(s *session) (replaced *session) {
	k := sessionKey(s.callID, s.callerTag)
	t.mu.Lock()
	defer t.mu.Unlock()
	replaced = t.byKey[k]
	t.byKey[k] = s
	return replaced
}

// find returns the session of an in-dialog request sent by either side, and
// whether the sender is the caller.
func (t *sessionTable) find(callID, fromTag, toTag string) (s *session, fromCaller bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s = t.byKey[sessionKey(callID, fromTag)]; s != nil && (toTag == "" || s.calleeTag == toTag) {
		return s, true
	}
	if s = t.byKey[sessionKey(callID, toTag)]; s != nil && s.calleeTag == fromTag {
		return s, false
	}
	return nil, false
}

// remove deletes the session of an in-dialog request and returns it (nil if
// it was not there or is already gone).
func (t *sessionTable) remove(callID, fromTag, toTag string) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tags := range [2][2]string{{fromTag, toTag}, {toTag, fromTag}} {
		k := sessionKey(callID, tags[0])
		if s := t.byKey[k]; s != nil && s.calleeTag == tags[1] {
			delete(t.byKey, k)
			return s
		}
	}
	return nil
}

// removeIf deletes and returns every session drop reports true for.
func (t *sessionTable) removeIf(drop func(*session) bool) []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*session
	for k, s := range t.byKey {
		if drop(s) {
			delete(t.byKey, k)
			out = append(out, s)
		}
	}
	return out
}

func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}
