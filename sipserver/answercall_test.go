package sipserver

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// remotePhone is a desk phone under remote control: it rings, and answers a
// ringing call only when a NOTIFY "Event: talk" tells it to.
type remotePhone struct {
	lis      *sipx.Server
	ua       *sipgo.UserAgent
	notified chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	ended    chan struct{}
}

func startRemotePhone(t *testing.T) *remotePhone {
	t.Helper()
	rp := &remotePhone{notified: make(chan struct{}), ended: make(chan struct{}, 1)}
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	rp.ua = ua
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		contact sip.ContactHeader
		dialog  *sipgo.DialogServerSession
	)
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		if ev := req.GetHeader("Event"); ev != nil && ev.Value() == "talk" {
			rp.once.Do(func() { close(rp.notified) })
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 489, "Bad Event", nil))
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		rp.wg.Add(1)
		defer rp.wg.Done()
		mu.Lock()
		dua := sipgo.DialogUA{Client: cli, ContactHDR: contact}
		mu.Unlock()
		ds, err := dua.ReadInvite(req, tx)
		if err != nil {
			return
		}
		mu.Lock()
		dialog = ds
		mu.Unlock()
		_ = ds.Respond(180, "Ringing", nil)
		select {
		case <-rp.notified:
		case <-ds.Context().Done():
			return
		case <-time.After(waitFor):
			_ = ds.Respond(480, "Temporarily Unavailable", nil)
			return
		}
		offer, err := sdp.Parse(req.Body())
		if err != nil {
			_ = ds.Respond(488, "Not Acceptable Here", nil)
			return
		}
		ans, err := sdp.Answer(offer, sdp.AnswerOptions{Addr: netip.MustParseAddr("127.0.0.1"), Port: 40000})
		if err != nil {
			_ = ds.Respond(488, "Not Acceptable Here", nil)
			return
		}
		_ = ds.RespondSDP(ans.Marshal())
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		mu.Lock()
		defer mu.Unlock()
		if dialog != nil {
			_ = dialog.ReadAck(req, tx)
		}
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		mu.Lock()
		defer mu.Unlock()
		if dialog != nil {
			_ = dialog.ReadBye(req, tx)
			rp.ended <- struct{}{}
		}
	})
	rp.lis = sipx.NewServer(srv, testLogger())
	ln, err := rp.lis.Listen(context.Background(), "udp", "127.0.0.1:0", nil)
	require.NoError(t, err)
	mu.Lock()
	contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "7001", Host: "127.0.0.1", Port: int(ln.Addr.Port())}}
	mu.Unlock()
	t.Cleanup(func() {
		rp.lis.Close()
		rp.wg.Wait()
		ua.Close()
	})
	return rp
}

func (rp *remotePhone) contact() string {
	return "sip:7001@" + rp.lis.Addr("udp").String()
}

// TestAnswerCall: RequestAnswerCall makes the ringing phone of an
// auto-answer DN pick up (NOTIFY Event: talk); the call is established.
func TestAnswerCall(t *testing.T) {
	s := startServer(t, nil)
	rp := startRemotePhone(t)
	registerContact(t, s, "7001", rp.contact())
	desk := dialTLib(t, s, "desktop", "7001", "7003")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	done := make(chan error, 1)
	var call *phone.Call
	go func() {
		var err error
		call, err = cust.Dial(ctx, "7001")
		done <- err
	}()
	ring := expectEvents(t, desk.Events(), tlib.EventRinging)[0]
	select {
	case <-rp.notified:
		t.Fatal("the phone was told to answer before anyone asked")
	default:
	}
	// 7003 is not on the call; 7001 is.
	_, err := desk.Request(ctx, &tlib.Message{Name: tlib.RequestAnswerCall, ThisDN: "7003", ConnID: ring.ConnID})
	require.Error(t, err)
	reply, err := desk.Request(ctx, &tlib.Message{Name: tlib.RequestAnswerCall, ThisDN: "7001", ConnID: ring.ConnID})
	require.NoError(t, err)
	assert.Equal(t, tlib.EventEstablished, reply.Name, "EventEstablished is the reply")
	assert.Equal(t, ring.ConnID, reply.ConnID)
	require.NoError(t, <-done)
	expectEvents(t, desk.Events(), tlib.EventEstablished)

	require.NoError(t, call.Hangup(ctx))
	select {
	case <-rp.ended:
	case <-time.After(waitFor):
		t.Fatal("the remote phone got no BYE")
	}
	expectEvents(t, desk.Events(), tlib.EventReleased)
	requireNoCalls(t, s)
}

// TestAnswerCallNeedsAutoAnswer: a DN whose phone takes no remote control.
func TestAnswerCallNeedsAutoAnswer(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7003"})
	desk := dialTLib(t, s, "desktop", "7003")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)
	go func() { _, _ = cust.Dial(ctx, "7003") }()
	ring := expectEvents(t, desk.Events(), tlib.EventRinging)[0]
	_, err := desk.Request(ctx, &tlib.Message{Name: tlib.RequestAnswerCall, ThisDN: "7003", ConnID: ring.ConnID})
	require.ErrorIs(t, err, tlib.ErrInvalidState)
	in := <-agent.Incoming()
	require.NoError(t, in.Answer())
	expectEvents(t, desk.Events(), tlib.EventEstablished)
	require.NoError(t, in.Hangup(ctx))
	requireNoCalls(t, s)
}
