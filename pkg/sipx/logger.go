package sipx

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// maxLoggedValue bounds a logged string: sipgo logs whole unparsable
// datagrams, and a flood of 64 KiB junk must not become 64 KiB log lines.
const maxLoggedValue = 256

var sipLoggerOnce sync.Once

// SetSIPLogger points sipgo's package-level logger (transport and transaction
// layers) at l, with long values truncated. sipgo reads that logger without a
// lock, so only the first call in a process takes effect: make it at start-up,
// before any SIP traffic.
func SetSIPLogger(l *slog.Logger) {
	sipLoggerOnce.Do(func() { sip.SetDefaultLogger(TruncatingLogger(l)) })
}

// TruncatingLogger returns a logger that cuts string values longer than 256
// bytes, noting the original length.
func TruncatingLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return slog.New(truncHandler{l.Handler()})
}

type truncHandler struct{ h slog.Handler }

func (t truncHandler) Enabled(ctx context.Context, lv slog.Level) bool { return t.h.Enabled(ctx, lv) }

func (t truncHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, truncate(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(truncAttr(a))
		return true
	})
	return t.h.Handle(ctx, nr)
}

func (t truncHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = truncAttr(a)
	}
	return truncHandler{t.h.WithAttrs(out)}
}

func (t truncHandler) WithGroup(name string) slog.Handler { return truncHandler{t.h.WithGroup(name)} }

func truncAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindString {
		return slog.String(a.Key, truncate(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func truncate(s string) string {
	if len(s) <= maxLoggedValue {
		return s
	}
	return s[:maxLoggedValue] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
