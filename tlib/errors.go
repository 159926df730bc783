package tlib

import (
	"errors"
	"fmt"
)

// ErrorCode is the ErrorCode attribute of EventError. It implements error so
// that each code is also a sentinel: errors.Is(err, tlib.ErrUnknownDN) matches
// an *Error carrying that code, and a Handler may return a bare code.
type ErrorCode int

// Error codes. Numbers are part of the protocol (docs/tlib.md): never renumber.
// 1–99 are call/registration errors, 100–199 protocol errors, 500 internal.
const (
	ErrInvalidConnID       ErrorCode = 1   // ConnID unknown to the server
	ErrDNNotRegistered     ErrorCode = 2   // ThisDN not registered by this client
	ErrUnknownDN           ErrorCode = 3   // DN not configured on the server
	ErrDNInUse             ErrorCode = 4   // DN held by another client (ModePrivate)
	ErrInvalidState        ErrorCode = 5   // request not valid in the current call/recording state
	ErrInvalidPrivateMsgID ErrorCode = 6   // PrivateMsgID not supported
	ErrMissingAttribute    ErrorCode = 7   // a mandatory attribute is absent
	ErrInvalidAttribute    ErrorCode = 8   // an attribute has a value outside its domain
	ErrInvalidDestination  ErrorCode = 9   // OtherDN cannot be reached / routed to
	ErrMalformed           ErrorCode = 100 // line is not a JSON object with a "message" string
	ErrUnknownRequest      ErrorCode = 101 // message name is not a request
	ErrTooLarge            ErrorCode = 102 // line longer than the server's limit
	ErrUnauthorised        ErrorCode = 103 // RequestOpen with a wrong password
	ErrNotOpen             ErrorCode = 104 // request before a successful RequestOpen
	ErrInternal            ErrorCode = 500 // the server failed to perform the request
)

var codeText = map[ErrorCode]string{
	ErrInvalidConnID:       "invalid connection id",
	ErrDNNotRegistered:     "DN not registered by this client",
	ErrUnknownDN:           "unknown DN",
	ErrDNInUse:             "DN registered by another client",
	ErrInvalidState:        "invalid state",
	ErrInvalidPrivateMsgID: "invalid private message id",
	ErrMissingAttribute:    "missing attribute",
	ErrInvalidAttribute:    "invalid attribute",
	ErrInvalidDestination:  "invalid destination",
	ErrMalformed:           "malformed message",
	ErrUnknownRequest:      "unknown request",
	ErrTooLarge:            "message too large",
	ErrUnauthorised:        "unauthorised",
	ErrNotOpen:             "connection not opened",
	ErrInternal:            "internal error",
}

// Error returns the code's description.
func (c ErrorCode) Error() string {
	if t, ok := codeText[c]; ok {
		return t
	}
	return fmt.Sprintf("error code %d", int(c))
}

// Error is a T-lib error: the content of an EventError, or what a Handler
// returns to make the server answer a request with EventError.
type Error struct {
	Code    ErrorCode
	Message string
}

// Errorf builds an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("tlib: %d %s", int(e.Code), e.Code.Error())
	}
	return fmt.Sprintf("tlib: %d %s: %s", int(e.Code), e.Code.Error(), e.Message)
}

// Unwrap exposes the code so errors.Is(err, ErrXxx) works.
func (e *Error) Unwrap() error { return e.Code }

// asError maps any error to a T-lib *Error: an *Error is kept, a wrapped
// ErrorCode keeps its code with the full text as message, anything else
// becomes ErrInternal.
func asError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	var code ErrorCode
	if errors.As(err, &code) {
		msg := err.Error()
		if msg == code.Error() {
			msg = ""
		}
		return &Error{Code: code, Message: msg}
	}
	return &Error{Code: ErrInternal, Message: err.Error()}
}

// Client-side errors that do not come from the server.
var (
	// ErrClientClosed is returned by Client methods after Close.
	ErrClientClosed = errors.New("tlib: client closed")
	// ErrDisconnected is returned by Client requests made, or pending, while
	// the connection is down.
	ErrDisconnected = errors.New("tlib: disconnected from server")
	// ErrServerClosed is returned by Server.Start after Close.
	ErrServerClosed = errors.New("tlib: server closed")
)
