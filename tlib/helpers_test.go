package tlib

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 5 * time.Second

// testLogger discards logs unless TLIB_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("TLIB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testHandler is a tiny call model: a DN table and calls created by
// RequestMakeCall, with a few requests wired to each Handler outcome.
type testHandler struct {
	srv   *Server
	dns   map[string]bool
	next  atomic.Uint64
	mu    sync.Mutex
	calls map[string][2]string // ConnID → {caller, callee}
	// block, when set, makes RequestAnswerCall wait for it (or ctx).
	block chan struct{}
	// closed receives the AppName of each client that goes away.
	closed chan string
}

func (h *testHandler) ClientClosed(c *ClientInfo) {
	if h.closed != nil {
		h.closed <- c.AppName
	}
}

const echoPrivateMsgID = 9000

func newTestHandler(dns ...string) *testHandler {
	h := &testHandler{dns: map[string]bool{}, calls: map[string][2]string{}}
	for _, d := range dns {
		h.dns[d] = true
	}
	return h
}

func (h *testHandler) KnownDN(dn string) bool { return h.dns[dn] }

func (h *testHandler) HandleRequest(ctx context.Context, c *ClientInfo, req *Message) error {
	switch req.Name {
	case RequestMakeCall:
		if !h.dns[req.OtherDN] {
			return Errorf(ErrInvalidDestination, "%s", req.OtherDN)
		}
		id := fmt.Sprintf("%016x", h.next.Add(1))
		h.mu.Lock()
		h.calls[id] = [2]string{req.ThisDN, req.OtherDN}
		h.mu.Unlock()
		h.srv.PublishReply(c.ID, &Message{Name: EventDialing, ReferenceID: req.ReferenceID, ConnID: id,
			CallUUID: "UUID-" + id, ThisDN: req.ThisDN, ThisDNRole: RoleOrigination, OtherDN: req.OtherDN,
			OtherDNRole: RoleDestination, CallType: CallTypeInternal, UserData: req.UserData})
		h.srv.Publish(&Message{Name: EventRinging, ConnID: id, CallUUID: "UUID-" + id, ThisDN: req.OtherDN,
			ThisDNRole: RoleDestination, OtherDN: req.ThisDN, OtherDNRole: RoleOrigination, CallType: CallTypeInternal})
		return nil
	case RequestPrivateService:
		if req.PrivateMsgID == echoPrivateMsgID {
			h.srv.SendTo(c.ID, &Message{Name: EventPrivateInfo, ReferenceID: req.ReferenceID, ThisDN: req.ThisDN,
				PrivateMsgID: req.PrivateMsgID, Extensions: req.Extensions})
			return nil
		}
		if !h.known(req.ConnID) {
			return Errorf(ErrInvalidConnID, "%s", req.ConnID)
		}
		if req.PrivateMsgID < PrivateRecordStart || req.PrivateMsgID > PrivateRecordResume {
			return ErrInvalidPrivateMsgID
		}
		return nil
	case RequestAttachUserData:
		h.srv.Publish(&Message{Name: EventAttachedDataChanged, ThisDN: req.ThisDN, ConnID: req.ConnID, UserData: req.UserData})
		return nil
	case RequestReleaseCall:
		if !h.known(req.ConnID) {
			return fmt.Errorf("release %s: %w", req.ConnID, ErrInvalidConnID)
		}
		h.srv.Publish(&Message{Name: EventReleased, ThisDN: req.ThisDN, ConnID: req.ConnID, CallState: CallStateOK})
		return nil
	case RequestHoldCall:
		return errors.New("media server unreachable")
	case RequestRetrieveCall:
		panic("handler bug")
	case RequestAnswerCall:
		if h.block != nil {
			select {
			case <-h.block:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	return nil
}

func (h *testHandler) known(conn string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.calls[conn]
	return ok
}

func startServer(t testing.TB, cfg ServerConfig, h *testHandler) (*Server, string) {
	t.Helper()
	s := NewServer(cfg, h, WithLogger(testLogger()))
	h.srv = s
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, s.Addr().String()
}

func dial(t testing.TB, addr string, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := Dial(ctx, addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next message on ch or fails after waitFor.
func next(t testing.TB, ch <-chan *Message) *Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "channel closed")
		return m
	case <-time.After(waitFor):
		require.FailNow(t, "no event within deadline")
		return nil
	}
}

// rawConn speaks the wire protocol by hand, for inputs Client never sends.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 1<<20)}
}

func (r *rawConn) send(line string) {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetWriteDeadline(time.Now().Add(waitFor)))
	_, err := io.WriteString(r.nc, line+"\n")
	require.NoError(r.t, err)
}

func (r *rawConn) sendMsg(m *Message) {
	r.t.Helper()
	b, err := Encode(m)
	require.NoError(r.t, err)
	r.send(string(b[:len(b)-1]))
}

func (r *rawConn) read() *Message {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(waitFor)))
	line, err := r.br.ReadBytes('\n')
	require.NoError(r.t, err)
	m, err := Decode(line)
	require.NoError(r.t, err)
	return m
}

func (r *rawConn) open(pw string) *Message {
	r.t.Helper()
	r.sendMsg(&Message{Name: RequestOpen, ReferenceID: 1, ApplicationName: "raw", Password: pw})
	return r.read()
}

// expectClosed waits for the server to close the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(waitFor)))
	_, err := io.Copy(io.Discard, r.br)
	require.NoError(r.t, err, "connection should end with EOF")
}

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1 and a client config trusting it.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "arlab test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// expectClosedAfterDraining reads whatever had reached this socket and
// requires the stream to end (EOF or reset) rather than stay open.
func (r *rawConn) expectClosedAfterDraining() {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(waitFor)))
	n, err := io.Copy(io.Discard, r.br)
	var ne net.Error
	require.False(r.t, errors.As(err, &ne) && ne.Timeout(), "connection still open after %d bytes: %v", n, err)
}
