package siprec

import (
	"fmt"
	"strings"
	"time"
)

// timeFormat is how Marshal writes times: RFC 3339 in UTC (xs:dateTime).
const timeFormat = time.RFC3339Nano

// zonedLayouts are accepted as sent; the second covers strftime's %z
// ("+0300"), which OpenSIPS writes.
var zonedLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
}

// localLayouts have no zone (Acme/Oracle, Avaya SBCE); they are read as UTC.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseTime reads an xs:dateTime tolerantly. It returns the zero time and a
// warning if s cannot be read, and a warning when it had to assume UTC.
func parseTime(s string) (time.Time, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, "empty time"
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), ""
		}
	}
	for _, l := range localLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, fmt.Sprintf("time %q has no zone; assumed UTC", s)
		}
	}
	return time.Time{}, fmt.Sprintf("unreadable time %q", truncate(s, 40))
}

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }
