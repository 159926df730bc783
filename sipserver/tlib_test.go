package sipserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// establishedCall sets up customer -> 7001 and returns the ConnID.
func establishedCall(t *testing.T, s *Server, desk *tlib.Client) (*phone.Call, string) {
	t.Helper()
	startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	cust := startCustomer(t, s, phone.Config{})
	call, err := cust.Dial(ctxFor(t), "7001")
	require.NoError(t, err)
	est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
	return call, est.ConnID
}

func TestUserDataRequests(t *testing.T) {
	s := startServer(t, nil)
	desk := dialTLib(t, s, "desktop", "7001")
	mon := dialTLib(t, s, "recorder")
	ctx := ctxFor(t)
	require.NoError(t, mon.MonitorAll(ctx))
	call, connID := establishedCall(t, s, desk)
	expectEvents(t, mon.Events(), tlib.EventRinging, tlib.EventEstablished)

	reply, err := desk.Request(ctx, &tlib.Message{Name: tlib.RequestAttachUserData, ThisDN: "7001", ConnID: connID,
		UserData: tlib.KVList{"a": "1", "b": "2"}})
	require.NoError(t, err)
	assert.Equal(t, tlib.EventAttachedDataChanged, reply.Name)
	assert.Equal(t, tlib.KVList{"a": "1", "b": "2"}, reply.UserData)
	assert.Equal(t, connID, reply.ConnID)
	// The monitor sees the change without the ReferenceID.
	m := expectEvents(t, mon.Events(), tlib.EventAttachedDataChanged)[0]
	assert.Zero(t, m.ReferenceID)
	assert.Equal(t, "7001", m.ThisDN)

	// Attach keeps existing keys; update overwrites.
	reply, err = desk.Request(ctx, &tlib.Message{Name: tlib.RequestAttachUserData, ThisDN: "7001", ConnID: connID,
		UserData: tlib.KVList{"b": "9", "c": "4"}})
	require.NoError(t, err)
	assert.Equal(t, tlib.KVList{"a": "1", "b": "2", "c": "4"}, reply.UserData)
	reply, err = desk.Request(ctx, &tlib.Message{Name: tlib.RequestUpdateUserData, ThisDN: "7001", ConnID: connID,
		UserData: tlib.KVList{"b": "3"}})
	require.NoError(t, err)
	assert.Equal(t, tlib.KVList{"a": "1", "b": "3", "c": "4"}, reply.UserData)
	// GSIP_* keys belong to the SIP Server.
	_, err = desk.Request(ctx, &tlib.Message{Name: tlib.RequestUpdateUserData, ThisDN: "7001", ConnID: connID,
		UserData: tlib.KVList{"GSIP_RECORD": "ON"}})
	require.ErrorIs(t, err, tlib.ErrInvalidAttribute)

	reply, err = desk.Request(ctx, &tlib.Message{Name: tlib.RequestDeleteUserData, ThisDN: "7001", ConnID: connID,
		UserData: tlib.KVList{"a": ""}})
	require.NoError(t, err)
	assert.Equal(t, tlib.KVList{"b": "3", "c": "4"}, reply.UserData)
	assert.Equal(t, map[string]string{"b": "3", "c": "4"}, apiCalls(t, s)[0].UserData)

	// Limits.
	_, err = desk.Request(ctx, &tlib.Message{Name: tlib.RequestUpdateUserData, ThisDN: "7001", ConnID: connID,
		UserData: tlib.KVList{"big": strings.Repeat("x", maxUserDataBytes)}})
	require.ErrorIs(t, err, tlib.ErrInvalidAttribute)

	require.NoError(t, call.Hangup(ctx))
	rel := expectEvents(t, mon.Events(), tlib.EventAttachedDataChanged, tlib.EventAttachedDataChanged,
		tlib.EventAttachedDataChanged, tlib.EventReleased)[3]
	assert.Equal(t, map[string]string{"b": "3", "c": "4"}, map[string]string(rel.UserData), "EventReleased carries the user data")
	requireNoCalls(t, s)
}

// TestTLibErrors: requests the SIP Server refuses answer EventError with the
// right code, and the connection keeps working.
func TestTLibErrors(t *testing.T) {
	s := startServer(t, nil)
	desk := dialTLib(t, s, "desktop", "7001")
	ctx := ctxFor(t)
	_, connID := establishedCall(t, s, desk)

	for _, tc := range []struct {
		name string
		req  *tlib.Message
		want tlib.ErrorCode
	}{
		{"unknown ConnID", &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: "7001", ConnID: "0000000000000bad"}, tlib.ErrInvalidConnID},
		{"unregistered ThisDN", &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: "7002", ConnID: connID}, tlib.ErrDNNotRegistered},
		{"DN not on the call", &tlib.Message{Name: tlib.RequestAttachUserData, ThisDN: "7001", ConnID: "0000000000000bad", UserData: tlib.KVList{"a": "b"}}, tlib.ErrInvalidConnID},
		{"answer an established call", &tlib.Message{Name: tlib.RequestAnswerCall, ThisDN: "7001", ConnID: connID}, tlib.ErrInvalidState},
		{"hold from T-lib", &tlib.Message{Name: tlib.RequestHoldCall, ThisDN: "7001", ConnID: connID}, tlib.ErrInvalidState},
		{"recording not yet", &tlib.Message{Name: tlib.RequestPrivateService, ThisDN: "7001", ConnID: connID, PrivateMsgID: 3013}, tlib.ErrInvalidState},
		{"unknown private service", &tlib.Message{Name: tlib.RequestPrivateService, ThisDN: "7001", ConnID: connID, PrivateMsgID: 4242}, tlib.ErrInvalidPrivateMsgID},
		{"make call to nowhere", &tlib.Message{Name: tlib.RequestMakeCall, ThisDN: "7001", OtherDN: "12345"}, tlib.ErrInvalidDestination},
		{"monitoring", &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: "7001", OtherDN: "7002"}, tlib.ErrInvalidState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := desk.Request(ctx, tc.req)
			var te *tlib.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.want, te.Code, te.Message)
			assert.NotEmpty(t, te.Message)
		})
	}
	// Transfer and conference have no request in this T-lib: refused as
	// unknown, and the connection keeps working.
	raw := rawTLib(t, s)
	for _, name := range []string{"RequestSingleStepTransfer", "RequestInitiateConference"} {
		raw.send(t, `{"message":"`+name+`","ThisDN":"7001","ConnID":"`+connID+`","OtherDN":"7002","ReferenceID":9}`)
		ev := raw.read(t)
		assert.Equal(t, tlib.EventError, ev.Name)
		assert.Equal(t, tlib.ErrUnknownRequest, ev.ErrorCode)
		assert.EqualValues(t, 9, ev.ReferenceID)
	}
	assert.Len(t, s.Calls(), 1, "the call is untouched")
}

// rawConn speaks T-lib by hand, for malformed input.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func rawTLib(t *testing.T, s *Server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.TLibAddr().String(), waitFor)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{c: c, r: bufio.NewReaderSize(c, 1<<20)}
	rc.send(t, `{"message":"RequestOpen","ApplicationName":"raw","ReferenceID":1}`)
	require.Equal(t, tlib.EventServerInfo, rc.read(t).Name)
	return rc
}

func (rc *rawConn) send(t *testing.T, line string) {
	t.Helper()
	require.NoError(t, rc.c.SetWriteDeadline(time.Now().Add(waitFor)))
	_, err := io.WriteString(rc.c, line+"\n")
	require.NoError(t, err)
}

func (rc *rawConn) read(t *testing.T) *tlib.Message {
	t.Helper()
	require.NoError(t, rc.c.SetReadDeadline(time.Now().Add(waitFor)))
	line, err := rc.r.ReadBytes('\n')
	require.NoError(t, err)
	var m tlib.Message
	require.NoError(t, json.Unmarshal(line, &m))
	return &m
}

// TestTLibMalformedAndOversize: garbage and an oversize line get EventError
// and the same connection, and the server, keep working.
func TestTLibMalformedAndOversize(t *testing.T) {
	s := startServer(t, nil)
	raw := rawTLib(t, s)

	raw.send(t, `{"message": "RequestRegisterAddress", "ThisDN": `)
	ev := raw.read(t)
	assert.Equal(t, tlib.EventError, ev.Name)
	assert.Equal(t, tlib.ErrMalformed, ev.ErrorCode)

	raw.send(t, `{"message":"RequestAttachUserData","ThisDN":"7001","ConnID":"x","UserData":{"k":"`+strings.Repeat("v", 70<<10)+`"}}`)
	ev = raw.read(t)
	assert.Equal(t, tlib.EventError, ev.Name)
	assert.Equal(t, tlib.ErrTooLarge, ev.ErrorCode)

	raw.send(t, `{"message":"RequestRegisterAddress","ThisDN":"7001","ReferenceID":5}`)
	ev = raw.read(t)
	assert.Equal(t, tlib.EventRegistered, ev.Name)
	assert.EqualValues(t, 5, ev.ReferenceID)

	raw.send(t, `{"message":"RequestRegisterAddress","ThisDN":"not-a-dn","ReferenceID":6}`)
	ev = raw.read(t)
	assert.Equal(t, tlib.ErrUnknownDN, ev.ErrorCode)

	// Events still reach this connection.
	startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	cust := startCustomer(t, s, phone.Config{})
	call, err := cust.Dial(ctxFor(t), "7001")
	require.NoError(t, err)
	assert.Equal(t, tlib.EventRinging, raw.read(t).Name)
	assert.Equal(t, tlib.EventEstablished, raw.read(t).Name)
	require.NoError(t, call.Hangup(ctxFor(t)))
	assert.Equal(t, tlib.EventReleased, raw.read(t).Name)
	requireNoCalls(t, s)
}

// TestSlowTLibClient: 50 clients on DN 7001, one of which never reads (with a
// tiny receive buffer). 2000 user-data changes still reach the 49 others in
// full and promptly; the server drops the stuck one instead of waiting.
func TestSlowTLibClient(t *testing.T) {
	s := startServer(t, nil)
	driver := dialTLib(t, s, "driver", "7001")
	_, connID := establishedCall(t, s, driver)
	ctx := ctxFor(t)

	// The stuck client: opened and registered, then never read again.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	stuck, err := d.DialContext(ctx, "tcp", s.TLibAddr().String())
	require.NoError(t, err)
	defer stuck.Close()
	_, err = io.WriteString(stuck, `{"message":"RequestOpen","ApplicationName":"stuck","ReferenceID":1}`+"\n"+
		`{"message":"RequestRegisterAddress","ThisDN":"7001","ReferenceID":2}`+"\n")
	require.NoError(t, err)
	stuckR := bufio.NewReader(stuck)
	for range 2 { // EventServerInfo, EventRegistered
		require.NoError(t, stuck.SetReadDeadline(time.Now().Add(waitFor)))
		_, err := stuckR.ReadBytes('\n')
		require.NoError(t, err)
	}

	const readers, events = 48, 2000
	value := strings.Repeat("v", 700)
	var wg sync.WaitGroup
	counts := make([]int, readers)
	start := make(chan struct{})
	for i := range readers {
		c := dialTLib(t, s, "reader", "7001")
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			deadline := time.After(20 * time.Second)
			for counts[i] < events {
				select {
				case m, ok := <-c.Events():
					if !ok {
						return
					}
					if m.Name == tlib.EventAttachedDataChanged {
						counts[i]++
					}
				case <-deadline:
					return
				}
			}
		}()
	}
	close(start)
	began := time.Now()
	for i := range events {
		_, err := driver.Request(ctx, &tlib.Message{Name: tlib.RequestUpdateUserData, ThisDN: "7001", ConnID: connID,
			UserData: tlib.KVList{"n": value[:600+i%100]}})
		require.NoError(t, err)
	}
	wg.Wait()
	t.Logf("%d events to %d readers in %s", events, readers, time.Since(began))
	for i, n := range counts {
		require.Equal(t, events, n, "reader %d", i)
	}
	// The stuck client was disconnected: draining its socket ends in EOF
	// (or a reset, as the server closed with unread data), not a timeout.
	require.NoError(t, stuck.SetReadDeadline(time.Now().Add(waitFor)))
	_, err = io.Copy(io.Discard, stuckR)
	if !errors.Is(err, syscall.ECONNRESET) {
		require.NoError(t, err, "the server closed the stuck connection")
	}
}
