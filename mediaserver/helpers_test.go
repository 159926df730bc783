package mediaserver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
)

// Lab DNs of the tests and the tones their phones send.
const (
	agentDN    = "7001"
	customerDN = "+15551230000"
	superDN    = "7100"
)

var (
	agentTone    = audio.ToneForDN(agentDN)
	customerTone = audio.ToneForDN(customerDN)
	superTone    = audio.ToneForDN(superDN)
	allTones     = []float64{agentTone, customerTone, superTone}
)

// newTestServer starts a media server on loopback ports chosen by the OS.
func newTestServer(t *testing.T, mutate func(*Config), opts ...Option) *Server {
	t.Helper()
	cfg := Config{
		Name:          "ms1",
		SIP:           Listen{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0"},
		HTTP:          "127.0.0.1:0",
		LocalDir:      t.TempDir(),
		InviteTimeout: 3 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, append([]Option{WithLogger(testLogger())}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// newPhone starts a phone that records what it hears.
func newPhone(t *testing.T, dn string, mutate func(*phone.Config)) *phone.Phone {
	t.Helper()
	cfg := phone.Config{DN: dn, Host: "127.0.0.1", RecordAudio: true, AutoAnswer: true}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := phone.New(cfg, phone.WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// call joins a phone to conf through the SIP Server stub.
func call(t *testing.T, stub *sipStub, p *phone.Phone, conf string) *phone.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.Dial(ctx, stub.target(conf, p.DN()))
	require.NoError(t, err)
	return c
}

// bridged is a conference of an agent and a customer phone.
type bridged struct {
	ms              *Server
	stub            *sipStub
	agent, customer *phone.Phone
	agentCall       *phone.Call
	customerCall    *phone.Call
}

func newBridge(t *testing.T, conf string, mutate func(*Config), phoneCfg func(*phone.Config), opts ...Option) *bridged {
	t.Helper()
	ms := newTestServer(t, mutate, opts...)
	stub := newSIPStub(t, ms.SIPAddr("udp"))
	b := &bridged{ms: ms, stub: stub}
	b.customer = newPhone(t, customerDN, phoneCfg)
	b.agent = newPhone(t, agentDN, phoneCfg)
	b.customerCall = call(t, stub, b.customer, conf)
	b.agentCall = call(t, stub, b.agent, conf)
	return b
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, within, 20*time.Millisecond, append([]any{msg}, args...)...)
}

// heardFor reports whether the last d of samples (which must hold that
// much) is dominated by tone with no silent gap longer than 100 ms.
func heardFor(samples []int16, d time.Duration, tone float64) bool {
	n := int(d.Seconds() * audio.SampleRate)
	if len(samples) < n {
		return false
	}
	tail := samples[len(samples)-n:]
	f, ok := audio.DominantTone(tail, allTones)
	if !ok || f != tone {
		return false
	}
	for _, seg := range audio.Segments(tail, allTones) {
		if seg.Silent && seg.Duration() > 100*time.Millisecond {
			return false
		}
	}
	return true
}
