package msml

import (
	"fmt"
	"regexp"
	"strings"
)

// ContentType is the media type of MSML bodies in SIP INFO (RFC 5707 §4).
const ContentType = "application/msml+xml"

// Version is the MSML version arlab writes; ParseRequest accepts 1.0 and 1.1.
const Version = "1.1"

// MaxSize bounds an MSML document. A record request with eight destinations
// is about 1.5 KB.
const MaxSize = 16 << 10

// MaxDests bounds the destinations of one record request.
const MaxDests = 8

// Op is the operation a request asks for.
type Op string

// The operations of the subset.
const (
	OpRecord Op = "record" // <dialogstart><record>
	OpPause  Op = "pause"  // <send event="pause">
	OpResume Op = "resume" // <send event="resume">
	OpStop   Op = "stop"   // <dialogend> or <send event="terminate">
	OpJoin   Op = "join"   // <join>
	OpUnjoin Op = "unjoin" // <unjoin>
)

// Side says whose audio a recording carries.
type Side string

// Sides. Source is the audio sent by the recorded DN's party, Destination the
// audio sent by the other party.
const (
	SideBoth        Side = "both"
	SideSource      Side = "source"
	SideDestination Side = "destination"
)

// Mode is the recording session protocol towards a destination.
type Mode string

// Modes: SIPREC (RFC 7866, multipart SDP + RFC 7865 metadata) or the Genesys
// MSR form (call context in the Request-URI, SDP only).
const (
	ModeSIPREC  Mode = "siprec"
	ModeGenesys Mode = "genesys"
)

// Sessions is how many recording sessions one destination gets.
type Sessions string

// Session layouts: one session with one m-line per party, or one session per
// party.
const (
	SessionsSingle   Sessions = "single"
	SessionsPerParty Sessions = "per-party"
)

// SRTP towards the recorders.
const (
	SRTPOff  = "off"
	SRTPSDES = "sdes"
)

// JoinMode is how a supervisor takes part in a conference.
type JoinMode string

// Join modes: Mute hears both parties and is heard by nobody; Coach hears both
// parties and is heard by the agent only.
const (
	JoinMute  JoinMode = "mute"
	JoinCoach JoinMode = "coach"
)

// Request is one operation of the subset.
type Request struct {
	Op Op
	// Conf is the conference id (the conf-id of sip:msml=<conf-id>@...).
	Conf string
	// RecordingID names the recording: optional for OpRecord (the media server
	// generates one), required for pause, resume and stop.
	RecordingID string
	// Record holds the recording parameters of OpRecord.
	Record *Record
	// Conn is the DN of the leg joined or unjoined (the supervisor).
	Conn string
	// JoinMode is the supervisor's mode (OpJoin); "" means mute.
	JoinMode JoinMode
	// Agent is the DN of the leg that hears a coaching supervisor (OpJoin with
	// JoinCoach).
	Agent string
}

// Record holds the parameters of a record request. Empty fields take the
// media server's configured defaults.
type Record struct {
	CallUUID  string
	ConnID    string
	RecordDN  string // DN whose recording this is ("" = the DN of the leg the INFO came on)
	OtherDN   string // the other party's DN ("" = the conference's other party leg)
	Side      Side   // "" = both
	Sessions  Sessions
	Prerecord bool
	SRTP      string // "", SRTPOff or SRTPSDES
	Transport string // "", "udp", "tcp" or "tls"
	Mode      Mode
	// Dests are the destinations; none means the media server's default
	// destination.
	Dests []Dest
}

// Dest is one recording destination: a SIP or SIPS URI (a recorder, usually
// reached through the Resource Manager) or a file: URI (a local recording
// written by the media server).
type Dest struct {
	URI string
	// Mode overrides the record's mode for this destination.
	Mode Mode
	// Direct sends the INVITE straight to the URI's host instead of through the
	// media server's configured proxy.
	Direct bool
}

// IsFile reports whether d is a local file destination.
func (d Dest) IsFile() bool { return strings.HasPrefix(strings.ToLower(d.URI), "file:") }

// DialogID returns the MSML identifier of a recording: conf:<conf>/dialog:<id>.
func DialogID(conf, recordingID string) string {
	return "conf:" + conf + "/dialog:" + recordingID
}

// Identifier syntax. Conference ids come from a SIP Request-URI user part;
// recording ids end up in file names, so they are kept file-name safe.
var (
	confPattern = regexp.MustCompile(`^[A-Za-z0-9._~+@-]{1,128}$`)
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	dnPattern   = regexp.MustCompile(`^\+?[0-9A-Za-z_.-]{1,32}$`)
	uriPattern  = regexp.MustCompile(`^(?i)(sips?:[^\s<>"]+|file:[^\s<>"]*)$`)
)

// ValidConf reports whether s is a usable conference id.
func ValidConf(s string) bool { return confPattern.MatchString(s) }

// ValidID reports whether s is a usable recording id (also used for CallUUID
// and ConnID values).
func ValidID(s string) bool { return idPattern.MatchString(s) && s != "." && s != ".." }

// ValidDN reports whether s is a usable DN.
func ValidDN(s string) bool { return dnPattern.MatchString(s) }

// maxURI bounds a destination URI.
const maxURI = 512

// Validate checks a request the way ParseRequest does, so a client learns of
// a mistake before sending it.
func (r *Request) Validate() error {
	if !ValidConf(r.Conf) {
		return newError(CodeInvalidValue, "conference id %q is not valid", r.Conf)
	}
	switch r.Op {
	case OpRecord:
		if r.Record == nil {
			return newError(CodeBadRequest, "record request without record parameters")
		}
		if r.RecordingID != "" && !ValidID(r.RecordingID) {
			return newError(CodeInvalidValue, "recording id %q is not valid", r.RecordingID)
		}
		return r.Record.validate()
	case OpPause, OpResume, OpStop:
		if !ValidID(r.RecordingID) {
			return newError(CodeInvalidValue, "recording id %q is not valid", r.RecordingID)
		}
	case OpJoin, OpUnjoin:
		if !ValidDN(r.Conn) {
			return newError(CodeInvalidValue, "connection %q is not a DN", r.Conn)
		}
		if r.Op == OpUnjoin {
			return nil
		}
		switch r.JoinMode {
		case "", JoinMute:
			if r.Agent != "" {
				return newError(CodeInvalidValue, "agent is only meaningful in coach mode")
			}
		case JoinCoach:
			if !ValidDN(r.Agent) {
				return newError(CodeInvalidValue, "coach mode needs the agent's DN, got %q", r.Agent)
			}
		default:
			return newError(CodeInvalidValue, "join mode %q (want mute|coach)", r.JoinMode)
		}
	default:
		return newError(CodeBadRequest, "unknown operation %q", r.Op)
	}
	return nil
}

func (rec *Record) validate() error {
	for name, v := range map[string]string{"calluuid": rec.CallUUID, "connid": rec.ConnID} {
		if v != "" && !ValidID(v) {
			return newError(CodeInvalidValue, "%s %q is not valid", name, v)
		}
	}
	for name, v := range map[string]string{"recorddn": rec.RecordDN, "otherdn": rec.OtherDN} {
		if v != "" && !ValidDN(v) {
			return newError(CodeInvalidValue, "%s %q is not a DN", name, v)
		}
	}
	switch rec.Side {
	case "", SideBoth, SideSource, SideDestination:
	default:
		return newError(CodeInvalidValue, "side %q (want source|destination|both)", rec.Side)
	}
	switch rec.Sessions {
	case "", SessionsSingle, SessionsPerParty:
	default:
		return newError(CodeInvalidValue, "sessions %q (want single|per-party)", rec.Sessions)
	}
	switch rec.SRTP {
	case "", SRTPOff, SRTPSDES:
	default:
		return newError(CodeInvalidValue, "srtp %q (want off|sdes)", rec.SRTP)
	}
	switch rec.Transport {
	case "", "udp", "tcp", "tls":
	default:
		return newError(CodeInvalidValue, "transport %q (want udp|tcp|tls)", rec.Transport)
	}
	if err := validMode(rec.Mode); err != nil {
		return err
	}
	if len(rec.Dests) > MaxDests {
		return newError(CodeInvalidValue, "%d destinations (at most %d)", len(rec.Dests), MaxDests)
	}
	for _, d := range rec.Dests {
		if len(d.URI) > maxURI || !uriPattern.MatchString(d.URI) {
			return newError(CodeInvalidValue, "destination %q is not a sip:, sips: or file: URI", truncate(d.URI))
		}
		if err := validMode(d.Mode); err != nil {
			return err
		}
		if d.IsFile() && (d.Mode != "" || d.Direct) {
			return newError(CodeInvalidValue, "a file destination takes no mode or direct attribute")
		}
	}
	return nil
}

func validMode(m Mode) error {
	switch m {
	case "", ModeSIPREC, ModeGenesys:
		return nil
	}
	return newError(CodeInvalidValue, "mode %q (want siprec|genesys)", m)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// String describes the request for logs.
func (r *Request) String() string {
	switch r.Op {
	case OpJoin, OpUnjoin:
		return fmt.Sprintf("%s conn:%s conf:%s", r.Op, r.Conn, r.Conf)
	}
	return fmt.Sprintf("%s %s", r.Op, DialogID(r.Conf, r.RecordingID))
}
