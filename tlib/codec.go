package tlib

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
)

// Framing: one JSON object per line, '\n' terminated ("\r\n" accepted).
const (
	// DefaultMaxLine is the server's default limit on one request line.
	DefaultMaxLine = 64 << 10
	// DefaultClientMaxLine is the client's default limit on one event line;
	// larger because events accumulate user data.
	DefaultClientMaxLine = 1 << 20
)

// Decode parses one line (without or with its trailing newline) into a
// Message. Errors wrap ErrMalformed. Unknown attributes are ignored so that
// newer peers can add attributes; attribute names are case-sensitive; the
// message name itself is not checked here (see Validate).
func Decode(line []byte) (*Message, error) {
	var m Message
	d := decoder{b: line}
	if d.peek() != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if err := d.message(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.Name == "" {
		return nil, fmt.Errorf(`%w: missing "message"`, ErrMalformed)
	}
	return &m, nil
}

// Encode returns the wire form of m: compact JSON followed by '\n', the
// same bytes encoding/json produces for Message with HTML escaping off (so
// user data stays readable in traces).
func Encode(m *Message) ([]byte, error) {
	b, err := appendMessage(make([]byte, 0, 512), m)
	if err != nil {
		return nil, fmt.Errorf("tlib: encode %s: %w", m.Name, err)
	}
	return append(b, '\n'), nil
}

// newLineReader returns a reader whose buffer holds a line of maxLine bytes
// plus its newline.
func newLineReader(r interface{ Read([]byte) (int, error) }, maxLine int) *bufio.Reader {
	return bufio.NewReaderSize(r, maxLine+1)
}

// readLine returns the next line without its line ending. The slice aliases
// the reader's buffer: use it before the next call. A line longer than the
// buffer is consumed up to and including its newline and reported as
// ErrTooLarge, so the caller can answer and keep the connection. Blank
// lines are skipped. A final line without newline at EOF is dropped.
func readLine(br *bufio.Reader) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return nil, ErrTooLarge
		}
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, nil
	}
}
