package sipx

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStatusOf(t *testing.T) {
	code, reason := StatusOf(fmt.Errorf("outer: %w", Errorf(488, "", "no codec")))
	assert.Equal(t, 488, code)
	assert.Equal(t, "Not Acceptable Here", reason)
	code, reason = StatusOf(errors.New("plain"))
	assert.Equal(t, 500, code)
	assert.Equal(t, "Server Internal Error", reason)
}

// TestListenAndAnswer serves a handler that fails with a typed error on every
// transport, and checks the far end gets exactly that status and headers.
func TestListenAndAnswer(t *testing.T) {
	RaiseUDPLimit()
	serverTLS, clientTLS, err := SelfSigned()
	require.NoError(t, err)

	ua, err := sipgo.NewUA(sipgo.WithUserAgent("sipx-test"), sipgo.WithUserAgenTLSConfig(clientTLS))
	require.NoError(t, err)
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	srv.OnOptions(Wrap(nil, func(req *sip.Request, tx sip.ServerTransaction) error {
		return &StatusError{Code: 503, Reason: "Busy Lab", RetryAfter: 7 * time.Second, Warning: `full "now"`}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(srv, nil)
	defer s.Close()

	for _, network := range []string{"udp", "tcp", "tls"} {
		ln, err := s.Listen(ctx, network, "127.0.0.1:0", serverTLS)
		require.NoError(t, err, network)
		require.NotZero(t, ln.Addr.Port(), network)
		assert.Equal(t, ln.Addr, s.Addr(network))

		cua, err := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(clientTLS))
		require.NoError(t, err)
		cli, err := sipgo.NewClient(cua, sipgo.WithClientHostname("127.0.0.1"))
		require.NoError(t, err)
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Host: "127.0.0.1", Port: int(ln.Addr.Port())})
		req.SetTransport(ViaTransport(network))
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := cli.Do(rctx, req)
		rcancel()
		require.NoError(t, err, network)
		assert.Equal(t, 503, res.StatusCode, network)
		assert.Equal(t, "Busy Lab", res.Reason, network)
		require.NotNil(t, res.GetHeader("Retry-After"), network)
		assert.Equal(t, "7", res.GetHeader("Retry-After").Value())
		require.NotNil(t, res.GetHeader("Warning"))
		assert.Equal(t, `399 arlab "full 'now'"`, res.GetHeader("Warning").Value())
		cli.Close()
		cua.Close()
	}
	assert.Len(t, s.Listeners(), 3)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	_, err = s.Listen(ctx, "udp", "127.0.0.1:0", nil)
	assert.Error(t, err, "listen after close")
}

func TestListenErrors(t *testing.T) {
	ua, err := sipgo.NewUA()
	require.NoError(t, err)
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	s := NewServer(srv, nil)
	defer s.Close()
	_, err = s.Listen(context.Background(), "sctp", "127.0.0.1:0", nil)
	assert.ErrorIs(t, err, ErrUnknownNetwork)
	_, err = s.Listen(context.Background(), "tls", "127.0.0.1:0", nil)
	assert.Error(t, err)
	_, err = s.Listen(context.Background(), "udp", "256.0.0.1:0", nil)
	assert.Error(t, err)
	_, _, err = LoadTLS("", "", "")
	assert.ErrorIs(t, err, ErrNoCertificate)
}

func TestListenStopsOnContext(t *testing.T) {
	ua, err := sipgo.NewUA()
	require.NoError(t, err)
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	s := NewServer(srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = s.Listen(ctx, "tcp", "127.0.0.1:0", nil)
	require.NoError(t, err)
	cancel()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the context ended")
	}
}

func TestTruncatingLogger(t *testing.T) {
	var buf strings.Builder
	l := TruncatingLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Info("x", "data", strings.Repeat("A", 5000))
	assert.Less(t, buf.Len(), 400)
	assert.Contains(t, buf.String(), "(5000 bytes)")
}

func TestWriteSelfSignedLoads(t *testing.T) {
	cert, key, ca, err := WriteSelfSigned(t.TempDir(), "lab.example")
	require.NoError(t, err)
	srv, cli, err := LoadTLS(cert, key, ca)
	require.NoError(t, err)
	require.Len(t, srv.Certificates, 1)
	require.NotNil(t, cli.RootCAs)
	leaf, err := x509.ParseCertificate(srv.Certificates[0].Certificate[0])
	require.NoError(t, err)
	assert.Contains(t, leaf.DNSNames, "lab.example")
	_, err = leaf.Verify(x509.VerifyOptions{Roots: cli.RootCAs, DNSName: "lab.example"})
	assert.NoError(t, err, "the client config trusts the written CA")
}
