package siprec

import (
	"bytes"
	"fmt"
)

// SDPLabels returns, for each m= line of sdp in order, its a=label value
// (RFC 4574), or "" when the m-line has none. It is a line scan, not an SDP
// parser: enough to tie m-lines to metadata streams.
func SDPLabels(sdp []byte) []string {
	var labels []string
	for _, line := range bytes.Split(sdp, []byte("\n")) {
		line = bytes.TrimSpace(line)
		switch {
		case bytes.HasPrefix(line, []byte("m=")):
			labels = append(labels, "")
		case bytes.HasPrefix(line, []byte("a=label:")) && len(labels) > 0:
			labels[len(labels)-1] = string(bytes.TrimSpace(line[len("a=label:"):]))
		}
	}
	return labels
}

// CheckLabels cross-checks the SDP m-line labels (as from SDPLabels) with
// the metadata streams: m-lines without a label, labels with no <stream>,
// and, for complete snapshots, streams whose label has no m-line. It returns
// nil when every m-line maps to exactly one stream and back.
func CheckLabels(m *Metadata, sdpLabels []string) []string {
	var out []string
	byLabel := map[string]bool{}
	for _, s := range m.Streams {
		if s.Label != "" {
			byLabel[s.Label] = true
		}
	}
	inSDP := map[string]bool{}
	for i, l := range sdpLabels {
		switch {
		case l == "":
			out = append(out, fmt.Sprintf("m-line %d has no a=label", i+1))
		case inSDP[l]:
			out = append(out, fmt.Sprintf("a=label:%s appears on more than one m-line", l))
		case !byLabel[l]:
			out = append(out, fmt.Sprintf("a=label:%s (m-line %d) has no <stream> in the metadata", l, i+1))
		}
		inSDP[l] = true
	}
	if m.DataMode == DataModePartial {
		return out
	}
	for _, s := range m.Streams {
		if s.Label != "" && !inSDP[s.Label] {
			out = append(out, fmt.Sprintf("stream %q label %q has no m-line in the SDP", s.ID, s.Label))
		}
	}
	return out
}

// StreamForLabel returns the stream carrying the SDP label, and the
// participants sending it (more than one for a mixed stream).
func (m *Metadata) StreamForLabel(label string) (Stream, []Participant, bool) {
	for _, s := range m.Streams {
		if s.Label != label || label == "" {
			continue
		}
		var senders []Participant
		for _, p := range m.Participants {
			if contains(p.Send, s.ID) {
				senders = append(senders, p)
			}
		}
		return s, senders, true
	}
	return Stream{}, nil, false
}
