package scenario

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors.
var (
	// ErrInvalid wraps every problem found while parsing or validating a file.
	ErrInvalid = errors.New("invalid scenario")
	// ErrFailed is returned by Run when a scenario failed or a file was invalid.
	ErrFailed = errors.New("scenario failed")
	// ErrTooLarge is a scenario file above MaxFileSize.
	ErrTooLarge = errors.New("scenario file too large")
)

// MaxFileSize bounds a scenario file; scenarios are hand-written text.
const MaxFileSize = 1 << 20

// Pos is a position in a scenario file (1-based). Col is 0 when the YAML
// parser did not say.
type Pos struct {
	Line, Col int
}

// Error is one problem in a scenario file, at a position.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", where(e.File, e.Pos), e.Msg)
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *Error) Unwrap() error { return ErrInvalid }

func where(file string, p Pos) string {
	if p.Col > 0 {
		return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d", file, p.Line)
}

// ErrorList is every problem found in a file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap exposes the individual errors (and through them ErrInvalid).
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// StepError is a step that failed while running: it names the step by index
// (1-based), name and position so a CI log points at the line to look at.
type StepError struct {
	File  string
	Index int
	Name  string
	Kind  string
	Pos   Pos
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d %q (%s): %v", e.Index, e.Name, where(e.File, e.Pos), e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
