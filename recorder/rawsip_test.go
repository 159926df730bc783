package recorder

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"
)

// rawConn sends hand-written SIP messages over TCP, as a device with its own stack would.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c, rd: bufio.NewReader(c)}
}

var (
	viaLine = regexp.MustCompile(`(?mi)^Via:[^\r\n]*$`)
	clLine  = regexp.MustCompile(`(?mi)^Content-Length:[^\r\n]*\r\n`)
)

// normalize turns a message as written in a corpus file into wire form: CRLF line ends,
// our TCP connection in the top Via, a correct Content-Length.
func (c *rawConn) normalize(msg string) []byte {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	head, body, _ := strings.Cut(msg, "\n\n")
	head = strings.ReplaceAll(strings.TrimRight(head, "\n"), "\n", "\r\n") + "\r\n"
	body = strings.ReplaceAll(body, "\n", "\r\n")
	replaced := false
	head = viaLine.ReplaceAllStringFunc(head, func(v string) string {
		if replaced {
			return v
		}
		replaced = true
		return fmt.Sprintf("Via: SIP/2.0/TCP %s;branch=z9hG4bK-%d", c.conn.LocalAddr(), time.Now().UnixNano())
	})
	head = clLine.ReplaceAllString(head, "")
	head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	return []byte(head + body)
}

func (c *rawConn) send(msg []byte) {
	_, err := c.conn.Write(msg)
	require.NoError(c.t, err)
}

// read returns the next SIP message on the connection.
func (c *rawConn) read() sip.Message {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	var head bytes.Buffer
	length := 0
	for {
		line, err := c.rd.ReadString('\n')
		require.NoError(c.t, err)
		if head.Len() == 0 && strings.TrimSpace(line) == "" {
			continue // keep-alive CRLF
		}
		head.WriteString(line)
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			length, err = strconv.Atoi(strings.TrimSpace(v))
			require.NoError(c.t, err)
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	_, err := io.ReadFull(c.rd, body)
	require.NoError(c.t, err)
	m, err := sip.ParseMessage(append(head.Bytes(), body...))
	require.NoError(c.t, err)
	return m
}

// final reads responses until a final one.
func (c *rawConn) final() *sip.Response {
	c.t.Helper()
	for {
		m := c.read()
		res, ok := m.(*sip.Response)
		if !ok {
			continue // a request from the recorder (not expected here)
		}
		if res.StatusCode >= 200 {
			return res
		}
	}
}

// inDialog builds an ACK or BYE for the dialog the response established.
func (c *rawConn) inDialog(method string, inv *sip.Request, res *sip.Response, cseq uint32) []byte {
	target := res.Contact().Address.String()
	return []byte(fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-%s-%d\r\n%s\r\n%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		method, target, c.conn.LocalAddr(), strings.ToLower(method), time.Now().UnixNano(),
		inv.From().String(), res.To().String(), inv.CallID().Value(), cseq, method))
}
