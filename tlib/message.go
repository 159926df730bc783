package tlib

import (
	"encoding/json"
	"log/slog"
	"maps"
	"time"
)

// Message is one T-lib request or event. Name is the message name
// ("RequestMakeCall", "EventRinging", ...); every other field is an attribute
// and is omitted from the wire when empty. Which attributes are mandatory for
// a request is checked by Validate; their meaning is in docs/tlib.md.
type Message struct {
	Name string `json:"message"`
	// ReferenceID correlates a request with its reply. The Client assigns it;
	// the server echoes it on the reply and on events caused by the request,
	// but only towards the client that made the request.
	ReferenceID uint64 `json:"ReferenceID,omitempty"`

	ConnID         string `json:"ConnID,omitempty"`
	PreviousConnID string `json:"PreviousConnID,omitempty"`
	CallUUID       string `json:"CallUUID,omitempty"`
	CallID         string `json:"CallID,omitempty"`

	ThisDN           string `json:"ThisDN,omitempty"`
	ThisDNRole       string `json:"ThisDNRole,omitempty"`
	OtherDN          string `json:"OtherDN,omitempty"`
	OtherDNRole      string `json:"OtherDNRole,omitempty"`
	ThirdPartyDN     string `json:"ThirdPartyDN,omitempty"`
	ThirdPartyDNRole string `json:"ThirdPartyDNRole,omitempty"`

	ANI       string `json:"ANI,omitempty"`
	DNIS      string `json:"DNIS,omitempty"`
	CallType  string `json:"CallType,omitempty"`
	CallState string `json:"CallState,omitempty"`

	UserData   KVList `json:"UserData,omitempty"`
	Extensions KVList `json:"Extensions,omitempty"`
	Reasons    KVList `json:"Reasons,omitempty"`

	PrivateMsgID int       `json:"PrivateMsgID,omitempty"`
	ErrorCode    ErrorCode `json:"ErrorCode,omitempty"`
	ErrorMessage string    `json:"ErrorMessage,omitempty"`
	Time         time.Time `json:"Time,omitzero"`

	ApplicationName string `json:"ApplicationName,omitempty"`
	Password        string `json:"Password,omitempty"`
	RegisterMode    string `json:"RegisterMode,omitempty"`
	MonitorMode     string `json:"MonitorMode,omitempty"`
	MonitorScope    string `json:"MonitorScope,omitempty"`
	Server          string `json:"Server,omitempty"`
}

// Clone returns a deep copy (maps included).
func (m *Message) Clone() *Message {
	c := *m
	c.UserData = maps.Clone(m.UserData)
	c.Extensions = maps.Clone(m.Extensions)
	c.Reasons = maps.Clone(m.Reasons)
	return &c
}

// Err returns the *Error carried by an EventError, nil for any other message.
func (m *Message) Err() *Error {
	if m.Name != EventError {
		return nil
	}
	return &Error{Code: m.ErrorCode, Message: m.ErrorMessage}
}

// LogValue keeps logs short and never prints the password.
func (m *Message) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("message", m.Name)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	if m.ReferenceID != 0 {
		attrs = append(attrs, slog.Uint64("ReferenceID", m.ReferenceID))
	}
	add("ThisDN", m.ThisDN)
	add("OtherDN", m.OtherDN)
	add("ConnID", m.ConnID)
	add("CallUUID", m.CallUUID)
	if m.PrivateMsgID != 0 {
		attrs = append(attrs, slog.Int("PrivateMsgID", m.PrivateMsgID))
	}
	if m.ErrorCode != 0 {
		attrs = append(attrs, slog.Int("ErrorCode", int(m.ErrorCode)))
		add("ErrorMessage", m.ErrorMessage)
	}
	if m.Password != "" {
		attrs = append(attrs, slog.String("Password", "<redacted>"))
	}
	return slog.GroupValue(attrs...)
}

// KVList is a T-lib key/value list (UserData, Extensions, Reasons). Values
// are strings. On input a JSON number is also accepted and kept as its
// literal text ("42", "1.5"), so a number sent by a client survives a round
// trip unchanged except that it is re-sent as a string; null entries are
// dropped; booleans, objects and arrays are rejected.
type KVList map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (kv *KVList) UnmarshalJSON(b []byte) error { return decodeKVList(b, kv) }

var (
	_ slog.LogValuer   = (*Message)(nil)
	_ json.Unmarshaler = (*Message)(nil)
	_ json.Unmarshaler = (*KVList)(nil)
)
