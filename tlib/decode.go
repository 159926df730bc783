package tlib

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A dedicated decoder for Message: every client decodes every event it
// receives, and encoding/json's reflection made decoding most of the cost of
// event fan-out. It accepts exactly RFC 8259 JSON and maps it like
// encoding/json does (null leaves a field unset, invalid UTF-8 becomes
// U+FFFD, the last duplicate key wins), except that attribute names are
// case-sensitive. FuzzDecode checks it against encoding/json.

// maxNesting bounds recursion when skipping unknown attributes.
const maxNesting = 256

var errSyntax = errors.New("invalid JSON")

// UnmarshalJSON implements json.Unmarshaler with the same rules as Decode.
func (m *Message) UnmarshalJSON(b []byte) error {
	var n Message
	d := decoder{b: b}
	if err := d.message(&n); err != nil {
		return err
	}
	*m = n
	return nil
}

type decoder struct {
	b []byte
	i int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{d.i}, args...)...)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return d.errorf("%w: expected %q", errSyntax, c)
	}
	d.i++
	return nil
}

// literal consumes true/false/null.
func (d *decoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

func (d *decoder) null() bool {
	return d.peek() == 'n' && d.literal("null")
}

// members calls fn for each key of an object, positioned on its value.
func (d *decoder) members(fn func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.errorf("%w: expected a key", errSyntax)
		}
		key, err := d.rawString()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("%w: expected ',' or '}'", errSyntax)
		}
	}
}

func (d *decoder) message(m *Message) error {
	err := d.members(func(key []byte) error {
		if d.null() {
			return nil // like encoding/json: null leaves the field as is
		}
		switch string(key) { // no allocation for a switch on string(bytes)
		case "message":
			return d.str(&m.Name)
		case "ReferenceID":
			return d.uint(&m.ReferenceID)
		case "ConnID":
			return d.str(&m.ConnID)
		case "PreviousConnID":
			return d.str(&m.PreviousConnID)
		case "CallUUID":
			return d.str(&m.CallUUID)
		case "CallID":
			return d.str(&m.CallID)
		case "ThisDN":
			return d.str(&m.ThisDN)
		case "ThisDNRole":
			return d.str(&m.ThisDNRole)
		case "OtherDN":
			return d.str(&m.OtherDN)
		case "OtherDNRole":
			return d.str(&m.OtherDNRole)
		case "ThirdPartyDN":
			return d.str(&m.ThirdPartyDN)
		case "ThirdPartyDNRole":
			return d.str(&m.ThirdPartyDNRole)
		case "ANI":
			return d.str(&m.ANI)
		case "DNIS":
			return d.str(&m.DNIS)
		case "CallType":
			return d.str(&m.CallType)
		case "CallState":
			return d.str(&m.CallState)
		case "UserData":
			return d.kvlist(&m.UserData)
		case "Extensions":
			return d.kvlist(&m.Extensions)
		case "Reasons":
			return d.kvlist(&m.Reasons)
		case "PrivateMsgID":
			return d.int(&m.PrivateMsgID)
		case "ErrorCode":
			var n int
			err := d.int(&n)
			m.ErrorCode = ErrorCode(n)
			return err
		case "ErrorMessage":
			return d.str(&m.ErrorMessage)
		case "Time":
			return d.time(&m.Time)
		case "ApplicationName":
			return d.str(&m.ApplicationName)
		case "Password":
			return d.str(&m.Password)
		case "RegisterMode":
			return d.str(&m.RegisterMode)
		case "MonitorMode":
			return d.str(&m.MonitorMode)
		case "MonitorScope":
			return d.str(&m.MonitorScope)
		case "Server":
			return d.str(&m.Server)
		}
		return d.skip(0) // unknown attribute: ignored for forward compatibility
	})
	if err != nil {
		return err
	}
	if d.peek() != 0 || d.i != len(d.b) {
		return d.errorf("%w: data after the object", errSyntax)
	}
	return nil
}

func (d *decoder) str(dst *string) error {
	if d.peek() != '"' {
		return d.errorf("expected a string")
	}
	b, err := d.rawString()
	if err != nil {
		return err
	}
	*dst = string(b)
	return nil
}

// rawString decodes the string at d.i. Without escapes or non-ASCII bytes it
// returns a slice of the input (no allocation); otherwise a new buffer.
func (d *decoder) rawString() ([]byte, error) {
	d.i++ // opening quote
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], nil
		case c == '\\' || c >= utf8.RuneSelf:
			return d.slowString(start)
		case c < 0x20:
			return nil, d.errorf("%w: control character in string", errSyntax)
		}
		d.i++
	}
	return nil, d.errorf("%w: unterminated string", errSyntax)
}

func (d *decoder) slowString(start int) ([]byte, error) {
	out := make([]byte, d.i-start, d.i-start+16)
	copy(out, d.b[start:d.i])
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return out, nil
		case c < 0x20:
			return nil, d.errorf("%w: control character in string", errSyntax)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[d.i:])
			d.i += size
			out = utf8.AppendRune(out, r) // RuneError for invalid bytes, as encoding/json
		case c != '\\':
			out = append(out, c)
			d.i++
		default:
			d.i++
			if d.i >= len(d.b) {
				return nil, d.errorf("%w: unterminated string", errSyntax)
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return nil, d.errorf("%w: bad \\u escape", errSyntax)
				}
				if utf16.IsSurrogate(r) {
					// A valid pair is combined; anything else yields U+FFFD and
					// a following escape is decoded on its own (encoding/json).
					if d.i+6 <= len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						if r2, ok := d.hex4(); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								continue
							}
						}
						d.i = save
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, d.errorf("%w: bad escape", errSyntax)
			}
		}
	}
	return nil, d.errorf("%w: unterminated string", errSyntax)
}

func (d *decoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// number consumes a JSON number and returns its text and whether it is an
// integer (no fraction, no exponent).
func (d *decoder) number() ([]byte, bool, error) {
	d.ws()
	start := d.i
	integer := true
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return nil, false, d.errorf("%w: bad number", errSyntax)
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		integer = false
		d.i++
		if d.digits() == 0 {
			return nil, false, d.errorf("%w: bad number", errSyntax)
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		integer = false
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return nil, false, d.errorf("%w: bad number", errSyntax)
		}
	}
	return d.b[start:d.i], integer, nil
}

func (d *decoder) digits() int {
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}

func (d *decoder) uint(dst *uint64) error {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return d.errorf("expected a number")
	}
	s, integer, err := d.number()
	if err != nil {
		return err
	}
	v, perr := strconv.ParseUint(string(s), 10, 64)
	if !integer || perr != nil {
		return d.errorf("%s is not an unsigned 64-bit integer", s)
	}
	*dst = v
	return nil
}

func (d *decoder) int(dst *int) error {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return d.errorf("expected a number")
	}
	s, integer, err := d.number()
	if err != nil {
		return err
	}
	v, perr := strconv.ParseInt(string(s), 10, strconv.IntSize)
	if !integer || perr != nil {
		return d.errorf("%s is not an integer", s)
	}
	*dst = int(v)
	return nil
}

func (d *decoder) time(dst *time.Time) error {
	if d.peek() != '"' {
		return d.errorf("Time: expected an RFC 3339 string")
	}
	start := d.i + 1
	if _, err := d.rawString(); err != nil {
		return err
	}
	// Like time.Time.UnmarshalJSON, parse the raw text: no escapes.
	var t time.Time
	if err := t.UnmarshalText(d.b[start : d.i-1]); err != nil {
		return fmt.Errorf("attribute Time: %w", err)
	}
	*dst = t
	return nil
}

// kvlist decodes an object of string or number values (see KVList).
func (d *decoder) kvlist(dst *KVList) error {
	if d.peek() != '{' {
		return d.errorf("expected an object of strings")
	}
	kv := KVList{}
	err := d.members(func(key []byte) error {
		k := string(key)
		switch c := d.peek(); {
		case c == '"':
			v, err := d.rawString()
			if err != nil {
				return err
			}
			kv[k] = string(v)
		case c == '-' || (c >= '0' && c <= '9'):
			v, _, err := d.number()
			if err != nil {
				return err
			}
			kv[k] = string(v)
		case d.null():
			delete(kv, k)
		default:
			return d.errorf("key %q: value must be a string or a number", k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*dst = kv
	return nil
}

// skip consumes any JSON value.
func (d *decoder) skip(depth int) error {
	if depth > maxNesting {
		return d.errorf("nesting deeper than %d", maxNesting)
	}
	switch c := d.peek(); {
	case c == '{':
		return d.members(func([]byte) error { return d.skip(depth + 1) })
	case c == '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				return nil
			default:
				return d.errorf("%w: expected ',' or ']'", errSyntax)
			}
		}
	case c == '"':
		_, err := d.rawString()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := d.number()
		return err
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	}
	return d.errorf("%w: unexpected character", errSyntax)
}

// decodeKVList decodes a standalone KVList value (or null).
func decodeKVList(b []byte, dst *KVList) error {
	d := decoder{b: b}
	if d.null() {
		*dst = nil
	} else if err := d.kvlist(dst); err != nil {
		return err
	}
	if d.peek() != 0 || d.i != len(d.b) {
		return d.errorf("%w: data after the object", errSyntax)
	}
	return nil
}
