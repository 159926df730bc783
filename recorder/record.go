package recorder

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"time"
)

// State is the lifecycle state of a recording as stored in the index.
type State string

// Recording states. A recording is live while it is recording, paused or (for a pre-recording
// that has not been kept yet) tentative with no end time.
const (
	StateRecording State = "recording" // media is being written
	StatePaused    State = "paused"    // every stream is inactive (a=inactive); silence on the timeline
	StateComplete  State = "complete"  // finalised by BYE (or Close)
	StateTentative State = "tentative" // pre-recording not (yet) kept; deleted after the grace period
	StateRecovered State = "recovered" // was open when the recorder died; WAV repaired on start
	StateFailed    State = "failed"    // could not be written (disk error, media never usable)
)

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	switch s {
	case StateRecording, StatePaused, StateComplete, StateTentative, StateRecovered, StateFailed:
		return true
	}
	return false
}

// Mode is the recording-session flavour the SRC used.
const (
	ModeSIPREC  = "siprec"  // RFC 7866 multipart INVITE with metadata
	ModeGenesys = "genesys" // Genesys MSR: call context in Request-URI parameters, no metadata
)

// File names inside a recording directory.
const (
	AudioFile    = "audio.wav"
	MetadataFile = "metadata.xml"
	InfoFile     = "recording.json"
)

// Recording is the content of recording.json and the JSON the HTTP API returns for one
// recording. Times are UTC; offsets on the recording's timeline are milliseconds from StartTime.
type Recording struct {
	ID    string `json:"id"`
	State State  `json:"state"`
	Mode  string `json:"mode"`
	// Prerecord marks a pre-recording; Kept is set when it was committed (T-lib GSIP_RECORD=ON
	// or POST keep). A prerecording that is not kept stays tentative.
	Prerecord      bool      `json:"prerecord,omitempty"`
	Kept           bool      `json:"kept,omitempty"`
	TentativeUntil time.Time `json:"tentative_until,omitzero"`

	CallUUID    string            `json:"call_uuid,omitempty"`
	ConnID      string            `json:"conn_id,omitempty"`
	RecordDN    string            `json:"record_dn,omitempty"`
	OtherDN     string            `json:"other_dn,omitempty"`
	DNs         []string          `json:"dns,omitempty"`
	AgentID     string            `json:"agent_id,omitempty"`
	ANI         string            `json:"ani,omitempty"`
	DNIS        string            `json:"dnis,omitempty"`
	SRCRecordID string            `json:"src_recording_id,omitempty"` // the SRC's recording id (metadata / R-URI)
	RecFileName string            `json:"rec_file_name,omitempty"`    // GSIP_REC_FN from T-lib
	UserData    map[string]string `json:"user_data,omitempty"`
	SIPCallID   string            `json:"sip_call_id,omitempty"`
	SRC         string            `json:"src,omitempty"` // remote SIP address of the SRC

	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time,omitzero"`
	// DurationMs is the length of the audio timeline.
	DurationMs int64 `json:"duration_ms"`

	Audio        AudioInfo     `json:"audio"`
	Channels     []ChannelInfo `json:"channels"`
	Participants []Participant `json:"participants,omitempty"`
	Pauses       []Span        `json:"pauses,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
	Analysis     []Analysis    `json:"analysis,omitempty"`

	// Dir is the recording directory relative to the data directory.
	Dir string `json:"dir"`
}

// Live reports whether media may still be written into the recording.
func (r *Recording) Live() bool {
	return r.EndTime.IsZero() && (r.State == StateRecording || r.State == StatePaused || r.State == StateTentative)
}

// AudioInfo describes the audio files of a recording.
type AudioInfo struct {
	File       string   `json:"file"` // AudioFile once finalised
	Format     string   `json:"format"`
	SampleRate int      `json:"sample_rate"`
	Channels   int      `json:"channels"`
	Frames     int64    `json:"frames"`
	Segments   []string `json:"segments,omitempty"`    // only while live/after a crash: see timeline docs
	PartyFiles []string `json:"party_files,omitempty"` // per-party mono files when enabled
}

// ChannelInfo maps a WAV channel to the stream and party recorded on it.
type ChannelInfo struct {
	Index         int         `json:"index"`
	Label         string      `json:"label,omitempty"`
	StreamID      string      `json:"stream_id,omitempty"`
	ParticipantID string      `json:"participant_id,omitempty"`
	AOR           string      `json:"aor,omitempty"`
	Name          string      `json:"name,omitempty"`
	JoinedMs      int64       `json:"joined_ms"`
	Stats         StreamStats `json:"stats"`
}

// StreamStats are the per-stream media statistics kept by the timeline.
type StreamStats struct {
	Packets    uint64   `json:"packets"`
	Bytes      uint64   `json:"bytes"`
	Lost       int64    `json:"lost"`
	Late       uint64   `json:"late"`
	Duplicates uint64   `json:"duplicates"`
	OutOfOrder uint64   `json:"out_of_order"`
	Dropped    uint64   `json:"dropped"` // garbage, undecodable or received while inactive
	Reanchors  uint64   `json:"reanchors"`
	JitterMs   float64  `json:"jitter_ms"`
	SSRCs      []uint32 `json:"ssrcs,omitempty"`
	Codecs     []string `json:"codecs,omitempty"`
	SRTP       bool     `json:"srtp,omitempty"`
}

// Participant is a recorded party from the metadata (or the Genesys R-URI), normalised.
type Participant struct {
	ID           string    `json:"id"`
	AOR          string    `json:"aor,omitempty"`
	Name         string    `json:"name,omitempty"`
	Send         []string  `json:"send,omitempty"` // labels of the streams it sends
	Recv         []string  `json:"recv,omitempty"`
	Associated   time.Time `json:"associated,omitzero"`
	Disassociate time.Time `json:"disassociated,omitzero"`
}

// Span is a stretch of the timeline, in milliseconds from the start.
type Span struct {
	StartMs int64 `json:"start_ms"`
	EndMs   int64 `json:"end_ms"` // 0 while open
}

// Analysis is the live analysis of one channel.
type Analysis struct {
	Channel      int         `json:"channel"`
	LevelDBFS    float64     `json:"level_dbfs"` // RMS over non-silent frames
	PeakDBFS     float64     `json:"peak_dbfs"`
	SilenceRatio float64     `json:"silence_ratio"`
	TalkOverMs   int64       `json:"talk_over_ms"` // time this channel was active while another was too
	DTMF         []DTMFEvent `json:"dtmf,omitempty"`
}

// DTMFEvent is one RFC 4733 digit seen on a channel.
type DTMFEvent struct {
	Digit      string `json:"digit"`
	AtMs       int64  `json:"at_ms"`
	DurationMs int64  `json:"duration_ms"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id has the shape of a recording id (safe as a path element).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// NewRecordingID returns a new id: UTC time (sortable) and 48 random bits.
func NewRecordingID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}
