package sipx

import (
	"errors"
	"fmt"
	"time"
)

// StatusError is a handler failure that maps to a SIP final response.
type StatusError struct {
	Code   int
	Reason string
	// RetryAfter, when positive, is sent as a Retry-After header (503, 500 on CSeq errors).
	RetryAfter time.Duration
	// Warning, when set, is sent as a Warning header (code 399) so the sender sees the detail.
	Warning string
	Err     error
}

func (e *StatusError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%d %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("%d %s: %v", e.Code, e.Reason, e.Err)
}

func (e *StatusError) Unwrap() error { return e.Err }

// Errorf returns a *StatusError whose cause is fmt.Errorf(format, args...).
func Errorf(code int, reason string, format string, args ...any) error {
	return &StatusError{Code: code, Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Status returns a *StatusError wrapping err (which may be nil).
func Status(code int, reason string, err error) error {
	return &StatusError{Code: code, Reason: reason, Err: err}
}

// StatusOf finds the SIP status an error maps to: the first *StatusError in its
// chain, else 500.
func StatusOf(err error) (code int, reason string) {
	var se *StatusError
	if errors.As(err, &se) {
		reason = se.Reason
		if reason == "" {
			reason = DefaultReason(se.Code)
		}
		return se.Code, reason
	}
	return 500, DefaultReason(500)
}

// DefaultReason returns the RFC 3261 reason phrase for common codes.
func DefaultReason(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 415:
		return "Unsupported Media Type"
	case 420:
		return "Bad Extension"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 482:
		return "Loop Detected"
	case 483:
		return "Too Many Hops"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 603:
		return "Decline"
	}
	return "Unknown"
}
