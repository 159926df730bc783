package sdp

import (
	"errors"
	"fmt"
	"strings"
)

// pion/sdp parses strictly in RFC 4566 line order, needs t=, and accepts only
// the media types and transports it knows. Devices send SDP that breaks all
// three, so normalize rewrites the body into the order pion wants and keeps
// the pieces pion would reject (or that we store verbatim) on the side:
//
//   - CRLF, LF or bare CR line ends; blank lines and surrounding blanks dropped;
//   - session lines reordered to v o s c t a*, with s=- and t=0 0 supplied,
//     o= synthesised when missing; per media m c a*;
//   - the first c= per section is kept, with IN/IP4/IP6 upper-cased;
//   - m= type and proto are recorded here and replaced by audio RTP/AVP for
//     pion (so "m=image 0 udptl t38" parses); port and formats go to pion;
//   - b= values are recorded verbatim; i= u= e= p= k= t= r= z= and unknown
//     line types are dropped.

// rawMedia is what normalize keeps aside for one m= section.
type rawMedia struct {
	typ, proto string
	bandwidth  []string
}

// normalized is normalize's result: text for pion plus the side tables.
type normalized struct {
	text      string
	bandwidth []string // session b=
	media     []rawMedia
}

// section collects the lines of the session part or of one media part.
type section struct {
	head  string // rebuilt m= line; "" for the session part
	conn  string // rebuilt c= line, "" if none
	attrs []string
}

// normalize prepares b for pion/sdp. Errors wrap ErrMalformed.
func normalize(b []byte) (*normalized, error) {
	lines := strings.FieldsFunc(string(b), func(r rune) bool { return r == '\r' || r == '\n' })
	var (
		n              normalized
		sawV           bool
		origin, name   string
		sess           section
		media          []*section
		inMedia        bool
		lineNo         int
		currentSection = &sess
	)
	for _, line := range lines {
		lineNo++
		line = strings.Trim(line, " \t")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("%w: line %d is not <type>=<value>", ErrMalformed, lineNo)
		}
		value := line[2:]
		switch line[0] {
		case 'v':
			if sawV || inMedia {
				return nil, fmt.Errorf("%w: line %d: unexpected v=", ErrMalformed, lineNo)
			}
			if strings.TrimSpace(value) != "0" {
				return nil, fmt.Errorf("%w: unsupported version %q", ErrMalformed, value)
			}
			sawV = true
		case 'o':
			if inMedia {
				return nil, fmt.Errorf("%w: line %d: o= inside a media section", ErrMalformed, lineNo)
			}
			if origin == "" {
				o, err := rebuildOrigin(value)
				if err != nil {
					return nil, fmt.Errorf("%w: line %d: %w", ErrMalformed, lineNo, err)
				}
				origin = o
			}
		case 's':
			if !inMedia && name == "" {
				name = value
			}
		case 'c':
			if currentSection.conn != "" {
				continue
			}
			c, ok, err := rebuildConnection(value)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrMalformed, lineNo, err)
			}
			if ok {
				currentSection.conn = c
			}
		case 'b':
			if inMedia {
				m := &n.media[len(n.media)-1]
				m.bandwidth = append(m.bandwidth, value)
			} else {
				n.bandwidth = append(n.bandwidth, value)
			}
		case 'a':
			currentSection.attrs = append(currentSection.attrs, line)
		case 'm':
			f := strings.Fields(value)
			if len(f) < 3 {
				return nil, fmt.Errorf("%w: line %d: m= needs media, port and transport", ErrMalformed, lineNo)
			}
			mline := "m=audio " + f[1] + " RTP/AVP"
			if len(f) > 3 {
				mline += " " + strings.Join(f[3:], " ")
			}
			n.media = append(n.media, rawMedia{typ: f[0], proto: f[2]})
			currentSection = &section{head: mline}
			media = append(media, currentSection)
			inMedia = true
		}
	}
	if !sawV {
		return nil, fmt.Errorf("%w: no v= line", ErrMalformed)
	}
	if origin == "" {
		origin = "o=- 0 0 IN IP4 0.0.0.0"
	}
	if name == "" {
		name = "-"
	}

	var w strings.Builder
	w.Grow(len(b) + 64)
	writeLine := func(s string) { w.WriteString(s); w.WriteString("\r\n") }
	writeLine("v=0")
	writeLine(origin)
	writeLine("s=" + name)
	if sess.conn != "" {
		writeLine(sess.conn)
	}
	writeLine("t=0 0")
	for _, a := range sess.attrs {
		writeLine(a)
	}
	for _, m := range media {
		writeLine(m.head)
		if m.conn != "" {
			writeLine(m.conn)
		}
		for _, a := range m.attrs {
			writeLine(a)
		}
	}
	n.text = w.String()
	return &n, nil
}

// rebuildOrigin returns a canonical o= line. Devices sometimes omit the
// address type and address; pion fills those, we do it here explicitly.
func rebuildOrigin(v string) (string, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return "", errors.New("o= needs username, session id and version")
	}
	netType, addrType, addr := "IN", "IP4", ""
	if len(f) > 3 {
		netType = strings.ToUpper(f[3])
	}
	if len(f) > 4 {
		addrType = strings.ToUpper(f[4])
	}
	if len(f) > 5 {
		addr = f[5]
	}
	if addr == "" {
		addr = "0.0.0.0"
		if addrType == "IP6" {
			addr = "::"
		}
	}
	return "o=" + f[0] + " " + f[1] + " " + f[2] + " " + netType + " " + addrType + " " + addr, nil
}

// rebuildConnection returns a canonical c= line; ok is false for a c= without
// an address, which is treated as absent.
func rebuildConnection(v string) (line string, ok bool, err error) {
	f := strings.Fields(v)
	if len(f) < 2 {
		return "", false, errors.New("c= needs network type, address type and address")
	}
	if len(f) == 2 {
		return "", false, nil
	}
	return "c=" + strings.ToUpper(f[0]) + " " + strings.ToUpper(f[1]) + " " + f[2], true, nil
}
