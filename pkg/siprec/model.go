package siprec

import (
	"encoding/xml"
	"time"
)

// Media types, dispositions and namespaces.
const (
	ContentTypeSDP = "application/sdp"
	// ContentTypeMetadata is the RFC 9806 media type of the metadata part.
	ContentTypeMetadata = "application/rs-metadata+xml"
	// ContentTypeMetadataLegacy is the RFC 7866 spelling many devices still send.
	ContentTypeMetadataLegacy = "application/rs-metadata"
	// DispositionRecordingSession marks the metadata part (RFC 7866).
	DispositionRecordingSession = "recording-session"

	// Namespace is the RFC 7865 metadata namespace.
	Namespace = "urn:ietf:params:xml:ns:recording:1"
	// LegacyNamespace is the draft-era namespace (no ":1") still sent by
	// Acme/Oracle, Avaya SBCE, Metaswitch and others.
	LegacyNamespace = "urn:ietf:params:xml:ns:recording"
	// ExtNamespace holds arlab's call data extension (element callData).
	ExtNamespace = "urn:x-arlab:genesys:recording"
	// ExtPrefix is the prefix Marshal binds to ExtNamespace.
	ExtPrefix = "gx"

	// MaxMetadataSize bounds a metadata document.
	MaxMetadataSize = 256 << 10
	// MaxBodySize bounds a whole SIP message body.
	MaxBodySize = 1 << 20
)

// Data modes (RFC 7865).
const (
	DataModeComplete = "complete"
	DataModePartial  = "partial"
)

// Metadata is the RFC 7865 recording metadata of one recording session.
type Metadata struct {
	DataMode string // DataModeComplete or DataModePartial

	Groups       []Group
	Sessions     []Session
	Participants []Participant
	Streams      []Stream

	SessionRecordingAssocs   []SessionRecordingAssoc
	ParticipantSessionAssocs []ParticipantSessionAssoc
	ParticipantStreamAssocs  []ParticipantStreamAssoc

	// CallData is arlab's call context (element callData in ExtNamespace);
	// nil if absent.
	CallData *CallData
	// Extensions keeps every element the parser did not model, verbatim.
	Extensions []RawElement
	// Warnings lists tolerated deviations found by ParseMetadata (draft
	// forms, unparsable times...) followed by Validate's findings.
	Warnings []string
}

// Group is a communication session group (RFC 7865).
type Group struct {
	ID               string
	AssociateTime    time.Time
	DisassociateTime time.Time
}

// Session is a communication session (RFC 7865).
type Session struct {
	ID           string
	GroupRef     string
	SIPSessionID string // Session-ID header value (RFC 7989); the first if several
	StartTime    time.Time
	StopTime     time.Time
}

// Participant is a communication session participant (RFC 7865).
type Participant struct {
	ID       string
	AOR      string // nameID aor: SIP/SIPS/tel URI, kept as sent
	Name     string // display name (nameID/name)
	NameLang string // xml:lang of Name, if any

	// Send and Recv list stream ids. They are derived: ParseMetadata and Merge
	// fill them from ParticipantStreamAssocs; Marshal ignores them.
	Send, Recv []string
}

// Stream is a recorded media stream (RFC 7865). Label ties it to the
// SDP m-line carrying the same a=label (RFC 4574).
type Stream struct {
	ID, SessionID, Label string
}

// SessionRecordingAssoc associates a communication session with the
// recording session (RFC 7865).
type SessionRecordingAssoc struct {
	SessionID        string
	AssociateTime    time.Time
	DisassociateTime time.Time
}

// ParticipantSessionAssoc records when a participant joined and left a
// communication session (RFC 7865).
type ParticipantSessionAssoc struct {
	ParticipantID    string
	SessionID        string
	AssociateTime    time.Time
	DisassociateTime time.Time
}

// ParticipantStreamAssoc lists the streams a participant sends and receives
// (RFC 7865).
type ParticipantStreamAssoc struct {
	ParticipantID string
	Send, Recv    []string
}

// CallData is arlab's Genesys-style call context carried in ExtNamespace.
type CallData struct {
	CallUUID    string
	ConnID      string
	RecordDN    string
	OtherDN     string
	AgentID     string
	RecordingID string
	Prerecord   bool // tentative recording: kept only if confirmed
	// Continuation marks a recording re-established on another recorder
	// after a failure (the audio before it is on the previous recorder).
	Continuation bool
	DNs          []string
	Extra        map[string]string
}

// RawElement is an element the parser does not model, kept verbatim.
type RawElement struct {
	// Parent is the local name of the modelled element that contained it
	// ("recording", "group", "session", "participant", "stream", or an
	// association), ParentID that element's id ("" for "recording"; for
	// participantsessionassoc "participantID sessionID").
	Parent, ParentID string
	Space, Name      string // namespace URI and local name
	Attrs            []xml.Attr
	Inner            []byte // raw XML between the start and end tags
}
