package sipserver

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// idGen makes the identifiers of calls. ConnID and CallID are unique per
// SIP Server run; CallUUID is globally unique (random), because it is the key
// recorders join on across sites.
type idGen struct {
	prefix uint16 // distinguishes ConnIDs of two servers (or two runs)
	seq    atomic.Uint64
}

func newIDGen() *idGen {
	var b [2]byte
	_, _ = rand.Read(b[:])
	g := &idGen{prefix: binary.BigEndian.Uint16(b[:])}
	// Start from the clock so a restarted server does not reuse recent ConnIDs.
	g.seq.Store(uint64(time.Now().Unix()&0xffffff) << 16)
	return g
}

// next returns the ConnID (16 hex digits, as Genesys prints it) and the
// numeric CallID of a new call.
func (g *idGen) next() (connID, callID string) {
	n := g.seq.Add(1)
	return fmt.Sprintf("%04x%012x", g.prefix, n&0xffffffffffff), strconv.FormatUint(n, 10)
}

var uuidEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newCallUUID returns 32 upper-case base32 characters (160 random bits).
func newCallUUID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return uuidEncoding.EncodeToString(b[:])
}

// newSIPCallID returns a fresh SIP Call-ID for an outgoing leg.
func newSIPCallID(host string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x@%s", b, host)
}
