package phone

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/sipx"
)

// TestRegisterOverEveryTransport: a registrar on each transport accepts the
// phone's REGISTER (stream transports need Content-Length) with the real
// Contact port and the Expires asked for, refresh and unregister included.
func TestRegisterOverEveryTransport(t *testing.T) {
	srvTLS, cliTLS, err := sipx.SelfSigned()
	require.NoError(t, err)
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			ua, err := sipgo.NewUA()
			require.NoError(t, err)
			defer ua.Close()
			srv, err := sipgo.NewServer(ua)
			require.NoError(t, err)
			got := make(chan *sip.Request, 4)
			srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
				got <- req
				_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			})
			lis := sipx.NewServer(srv, nil)
			defer lis.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ln, err := lis.Listen(ctx, network, "127.0.0.1:0", srvTLS)
			require.NoError(t, err)

			p := startPhone(t, Config{DN: agentDN, Transport: network, Registrar: ln.Addr.String(), Expires: 2 * time.Second},
				WithTLS(srvTLS, cliTLS))
			var req *sip.Request
			select {
			case req = <-got:
			case <-ctx.Done():
				t.Fatal("no REGISTER")
			}
			require.NotNil(t, req.Contact())
			assert.Equal(t, int(p.Addr().Port()), req.Contact().Address.Port)
			assert.Equal(t, "2", req.GetHeader("Expires").Value())
			select {
			case <-got: // refreshed at half the lifetime
			case <-ctx.Done():
				t.Fatal("no refresh")
			}
			require.NoError(t, p.Close())
			select {
			case req = <-got:
				assert.Equal(t, "0", req.GetHeader("Expires").Value(), "unregister on Close")
			case <-ctx.Done():
				t.Fatal("no unregister")
			}
		})
	}
}
