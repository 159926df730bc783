package siprec

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
)

// maxParts bounds the number of MIME parts ParseBody accepts.
const maxParts = 16

// Body is a parsed SIP message body of a recording session. Its byte slices
// alias the body passed to ParseBody.
type Body struct {
	SDP          []byte // the (first) application/sdp part; nil if none
	Metadata     []byte // the (first) metadata part; nil if none
	MetadataType string // media type the metadata part was sent with (lower case, no parameters)
	Parts        []Part // every part, in order (one part for a non-multipart body)
	Warnings     []string
}

// Part is one MIME body part.
type Part struct {
	ContentType string // Content-Type header value as sent ("" if absent)
	Disposition string // Content-Disposition header value as sent
	Body        []byte
}

// ParseBody parses the body of a SIPREC INVITE, re-INVITE or UPDATE given
// the message's Content-Type header value. It accepts multipart/mixed (and
// any multipart/*) with a quoted or bare boundary, a preamble, LF or CRLF
// line endings, transport padding after delimiters and a missing final
// delimiter (with a warning), as well as a plain application/sdp body.
//
// Errors: ErrTooLarge, ErrMalformed, ErrNoSDP. A body that is well formed but
// carries metadata and no SDP (a metadata-only update, RFC 7866) is
// returned together with ErrNoSDP so the caller can still use the metadata.
func ParseBody(contentType string, body []byte) (*Body, error) {
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("%w: body of %d bytes (max %d)", ErrTooLarge, len(body), MaxBodySize)
	}
	b := &Body{}
	mt, params := parseMediaType(contentType, b)
	switch {
	case mt == "" && len(bytes.TrimSpace(body)) == 0:
		return nil, ErrNoSDP
	case mt == "":
		b.warn("no Content-Type; body sniffed")
		b.Parts = []Part{{Body: body}}
		b.classify(0, sniff(body), "")
	case strings.HasPrefix(mt, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" {
			return nil, fmt.Errorf("%w: %s without boundary", ErrMalformed, mt)
		}
		if mt != "multipart/mixed" {
			b.warn("body is %s, read as multipart/mixed", mt)
		}
		if err := b.splitMultipart(body, boundary); err != nil {
			return nil, err
		}
	default:
		b.Parts = []Part{{ContentType: contentType, Body: body}}
		b.classify(0, mt, "")
	}
	if b.SDP == nil {
		if b.Metadata != nil {
			return b, fmt.Errorf("%w: metadata-only body", ErrNoSDP)
		}
		return nil, fmt.Errorf("%w: content type %q", ErrNoSDP, mt)
	}
	return b, nil
}

func (b *Body) warn(format string, args ...any) {
	b.Warnings = append(b.Warnings, fmt.Sprintf(format, args...))
}

// parseMediaType returns the lower-cased media type and its parameters,
// falling back to a lenient split when mime.ParseMediaType refuses the value
// (bare boundaries containing '/', '=', '?' or spaces occur in the wild).
func parseMediaType(v string, b *Body) (string, map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if mt, params, err := mime.ParseMediaType(v); err == nil {
		return mt, params
	}
	if b != nil {
		b.warn("non-standard Content-Type %q", truncate(v, 80))
	}
	fields := strings.Split(v, ";")
	mt := strings.ToLower(strings.TrimSpace(fields[0]))
	params := map[string]string{}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"`)
	}
	return mt, params
}

// splitMultipart splits body on boundary delimiter lines (RFC 2046).
func (b *Body) splitMultipart(body []byte, boundary string) error {
	delim := []byte("--" + boundary)
	var (
		start   = -1 // offset of the current part's content
		closed  = false
		sawLine = false
	)
	for pos := 0; pos <= len(body) && !closed; {
		eol := bytes.IndexByte(body[pos:], '\n')
		lineEnd, next := len(body), len(body)+1
		if eol >= 0 {
			lineEnd, next = pos+eol, pos+eol+1
		}
		line := bytes.TrimRight(body[pos:lineEnd], "\r")
		if isClose, ok := isDelimiter(line, delim); ok {
			sawLine = true
			if start >= 0 {
				if err := b.addPart(body[start:trimEOL(body, start, pos)]); err != nil {
					return err
				}
			}
			closed = isClose
			start = min(next, len(body))
		}
		pos = next
	}
	if !sawLine {
		return fmt.Errorf("%w: boundary %q not found", ErrMalformed, truncate(boundary, 70))
	}
	if !closed {
		b.warn("missing final boundary")
		if start < len(body) {
			return b.addPart(body[start:])
		}
	}
	return nil
}

// isDelimiter reports whether line is a boundary delimiter line, and whether
// it is the close delimiter. Transport padding (trailing blanks) is allowed.
func isDelimiter(line, delim []byte) (isClose, ok bool) {
	if !bytes.HasPrefix(line, delim) {
		return false, false
	}
	rest := line[len(delim):]
	if bytes.HasPrefix(rest, []byte("--")) {
		isClose, rest = true, rest[2:]
	}
	if len(bytes.Trim(rest, " \t")) != 0 {
		return false, false
	}
	return isClose, true
}

// trimEOL returns the end of a part's content: the line break before the
// delimiter at pos belongs to the delimiter.
func trimEOL(body []byte, start, pos int) int {
	end := pos
	if end > start && body[end-1] == '\n' {
		end--
		if end > start && body[end-1] == '\r' {
			end--
		}
	}
	return end
}

// addPart parses one part's headers and classifies it.
func (b *Body) addPart(raw []byte) error {
	if len(b.Parts) >= maxParts {
		return fmt.Errorf("%w: more than %d parts", ErrMalformed, maxParts)
	}
	idx := len(b.Parts)
	var p Part
	content := raw
	if hdr, rest, ok := splitHeaders(raw); ok {
		content = rest
		p.ContentType = hdr["content-type"]
		p.Disposition = hdr["content-disposition"]
	} else {
		b.warn("part %d has no headers", idx+1)
	}
	p.Body = content
	b.Parts = append(b.Parts, p)
	mt := ""
	if p.ContentType != "" {
		mt, _ = parseMediaType(p.ContentType, nil)
	} else {
		mt = sniff(content)
		b.warn("part %d has no Content-Type; sniffed %s", idx+1, mt)
	}
	disp, _ := parseMediaType(p.Disposition, nil)
	b.classify(idx, mt, disp)
	return nil
}

// splitHeaders splits a part into headers and content at the first empty
// line. ok is false if the part does not start with a header block.
func splitHeaders(raw []byte) (map[string]string, []byte, bool) {
	hdr := map[string]string{}
	last := ""
	for pos := 0; pos < len(raw); {
		eol := bytes.IndexByte(raw[pos:], '\n')
		if eol < 0 {
			eol = len(raw) - pos
		}
		line := bytes.TrimRight(raw[pos:pos+eol], "\r")
		next := min(pos+eol+1, len(raw))
		if len(line) == 0 {
			return hdr, raw[next:], true
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			hdr[last] += " " + string(bytes.TrimSpace(line))
			pos = next
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) {
			if pos == 0 {
				return nil, raw, false // content starts right away
			}
			// A header block not closed by an empty line: the content
			// starts here.
			return hdr, raw[pos:], true
		}
		last = strings.ToLower(string(bytes.TrimSpace(name)))
		if _, dup := hdr[last]; !dup {
			hdr[last] = string(bytes.TrimSpace(value))
		}
		pos = next
	}
	return hdr, nil, len(hdr) > 0
}

func isToken(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// sniff guesses the media type of content without a Content-Type.
func sniff(content []byte) string {
	t := bytes.TrimSpace(content)
	switch {
	case bytes.HasPrefix(t, []byte("v=0")):
		return ContentTypeSDP
	case bytes.HasPrefix(t, []byte("<")) && bytes.Contains(t, []byte("recording")):
		return ContentTypeMetadata
	default:
		return "text/plain"
	}
}

func isMetadataType(mt string) bool {
	return mt == ContentTypeMetadata || mt == ContentTypeMetadataLegacy
}

// classify records part idx as the SDP or the metadata if it is the first of
// its kind. disp is the lower-cased disposition type.
func (b *Body) classify(idx int, mt, disp string) {
	p := b.Parts[idx]
	switch {
	case mt == ContentTypeSDP:
		if len(bytes.TrimSpace(p.Body)) == 0 {
			b.warn("part %d: empty SDP ignored", idx+1)
			return
		}
		if b.SDP != nil {
			b.warn("part %d: second SDP ignored", idx+1)
			return
		}
		b.SDP = p.Body
	case isMetadataType(mt) || disp == DispositionRecordingSession:
		if b.Metadata != nil {
			b.warn("part %d: second metadata part ignored", idx+1)
			return
		}
		if !isMetadataType(mt) {
			b.warn("part %d: recording-session part with Content-Type %q read as metadata", idx+1, mt)
		}
		if mt == ContentTypeMetadataLegacy {
			b.warn("metadata sent as %s (pre-RFC 9806 media type)", ContentTypeMetadataLegacy)
		}
		if p.Disposition != "" && disp != DispositionRecordingSession {
			b.warn("metadata part with Content-Disposition %q", p.Disposition)
		}
		b.Metadata = p.Body
		b.MetadataType = mt
	}
}

// BuildBody returns the Content-Type header value and body of a SIPREC
// request: multipart/mixed with the SDP part first and the metadata part
// (application/rs-metadata+xml, Content-Disposition: recording-session)
// second, CRLF line breaks, and a random boundary absent from both parts.
// With nil metadata it returns the SDP alone as application/sdp.
func BuildBody(sdp, metadata []byte) (contentType string, body []byte) {
	if metadata == nil {
		return ContentTypeSDP, sdp
	}
	var boundary string
	for {
		var r [12]byte
		_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
		boundary = "arlab-" + hex.EncodeToString(r[:])
		if !bytes.Contains(sdp, []byte(boundary)) && !bytes.Contains(metadata, []byte(boundary)) {
			break
		}
	}
	var out bytes.Buffer
	out.Grow(len(sdp) + len(metadata) + 256)
	if sdp != nil {
		out.WriteString("--" + boundary + "\r\n")
		out.WriteString("Content-Type: " + ContentTypeSDP + "\r\n\r\n")
		out.Write(sdp)
		out.WriteString("\r\n")
	}
	out.WriteString("--" + boundary + "\r\n")
	out.WriteString("Content-Type: " + ContentTypeMetadata + "\r\n")
	out.WriteString("Content-Disposition: " + DispositionRecordingSession + "\r\n\r\n")
	out.Write(metadata)
	out.WriteString("\r\n--" + boundary + "--\r\n")
	return "multipart/mixed;boundary=" + boundary, out.Bytes()
}
