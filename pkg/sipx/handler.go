package sipx

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// HandlerFunc handles one request. It returns nil when it has answered (or the
// request needs no answer, like ACK), and an error otherwise; Wrap answers that
// error.
type HandlerFunc func(req *sip.Request, tx sip.ServerTransaction) error

// Wrap is the one adapter from HandlerFunc to sipgo: an error becomes the final
// response named by its *StatusError (500 otherwise), logged with the Call-ID.
func Wrap(log *slog.Logger, h HandlerFunc) sipgo.RequestHandler {
	if log == nil {
		log = slog.Default()
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		err := h(req, tx)
		if err == nil {
			return
		}
		code, _ := StatusOf(err)
		l := log.With("method", string(req.Method), "call_id", CallID(req), "status", code)
		if code >= 500 {
			l.Warn("request failed", "error", err)
		} else {
			l.Info("request refused", "error", err)
		}
		if req.IsAck() || tx == nil {
			return
		}
		if werr := tx.Respond(ErrorResponse(req, err)); werr != nil {
			l.Debug("could not send error response", "error", werr)
		}
	}
}

// ErrorResponse builds the final response an error maps to, with Retry-After
// and Warning headers when the *StatusError asks for them.
func ErrorResponse(req *sip.Request, err error) *sip.Response {
	code, reason := StatusOf(err)
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	var se *StatusError
	if errors.As(err, &se) {
		if se.RetryAfter > 0 {
			secs := int(se.RetryAfter.Seconds())
			if secs < 1 {
				secs = 1
			}
			res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(secs)))
		}
		if se.Warning != "" {
			res.AppendHeader(sip.NewHeader("Warning", `399 arlab "`+sanitizeQuoted(se.Warning)+`"`))
		}
	}
	return res
}

// CallID returns the request's Call-ID value, or "".
func CallID(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func sanitizeQuoted(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\'')
		case c < 0x20 || c == 0x7f:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
