package msml

import (
	"errors"
	"fmt"
)

// MSML response codes used by the subset (RFC 5707 §10 numbering; 430 and 431
// are arlab's, see docs/msml.md).
const (
	CodeOK                 = 200
	CodeBadRequest         = 400 // not well-formed, not an MSML document, several operations, text content
	CodeUnknownElement     = 401 // an element MSML does not define
	CodeUnsupportedElement = 402 // an MSML element outside the subset
	CodeUnknownAttribute   = 406 // an attribute the element does not take
	CodeMissingAttribute   = 408 // a mandatory attribute is absent
	CodeInvalidValue       = 410 // an attribute value out of its syntax or range
	CodeNoSuchObject       = 430 // conference, recording or connection not found
	CodeObjectExists       = 431 // recording id already in use in the conference
	CodeInternal           = 500 // the media server could not carry out a valid request
)

// Sentinels matched with errors.Is; every *Error from this package wraps one.
var (
	ErrMalformed          = errors.New("msml: malformed document")
	ErrTooLarge           = errors.New("msml: document too large")
	ErrUnknownElement     = errors.New("msml: unknown element")
	ErrUnsupportedElement = errors.New("msml: unsupported element")
	ErrUnknownAttribute   = errors.New("msml: unknown attribute")
	ErrMissingAttribute   = errors.New("msml: missing mandatory attribute")
	ErrInvalidValue       = errors.New("msml: invalid attribute value")
	ErrNoSuchObject       = errors.New("msml: object does not exist")
	ErrObjectExists       = errors.New("msml: object already exists")
	ErrInternal           = errors.New("msml: internal error")
)

// Error is a failed MSML request: the response code the server answers with
// and a description for the <description> element.
type Error struct {
	Code int
	Msg  string
	// sentinel overrides the code's sentinel (ErrTooLarge is a 400).
	sentinel error
}

func (e *Error) Error() string { return fmt.Sprintf("msml %d: %s", e.Code, e.Msg) }

// Unwrap returns the sentinel of the code.
func (e *Error) Unwrap() error {
	if e.sentinel != nil {
		return e.sentinel
	}
	switch e.Code {
	case CodeUnknownElement:
		return ErrUnknownElement
	case CodeUnsupportedElement:
		return ErrUnsupportedElement
	case CodeUnknownAttribute:
		return ErrUnknownAttribute
	case CodeMissingAttribute:
		return ErrMissingAttribute
	case CodeInvalidValue:
		return ErrInvalidValue
	case CodeNoSuchObject:
		return ErrNoSuchObject
	case CodeObjectExists:
		return ErrObjectExists
	case CodeInternal:
		return ErrInternal
	}
	return ErrMalformed
}

// Errorf returns an *Error with code and a formatted description; the media
// server uses it for the run-time codes (430, 431, 500).
func Errorf(code int, format string, args ...any) *Error {
	return newError(code, format, args...)
}

func newError(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the MSML response code an error maps to: the code of the
// first *Error in its chain, 200 for nil, else 500.
func CodeOf(err error) int {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
