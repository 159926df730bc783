package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
)

// TestLabUpCallDown: the lab comes up as processes, reports healthy, carries
// a customer call to an agent phone with no loss, and Ctrl-C stops every
// process it started.
func TestLabUpCallDown(t *testing.T) {
	l := startLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, err := l.arlab(ctx, "lab", "status")
	require.NoError(t, err, out)
	assert.Contains(t, out, "sipserver")
	st := l.state()
	require.Len(t, st.Services, 12)

	customer, err := phone.New(phone.Config{DN: "+15551230001", Proxy: l.cfg.SIPServer.SIP.UDP, RecordAudio: true})
	require.NoError(t, err)
	require.NoError(t, customer.Start(ctx))
	defer customer.Close()
	call, err := customer.Dial(ctx, "7002")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return call.Media().RecvStats().Packets >= 50 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, call.Hangup(ctx))
	assert.Zero(t, call.Media().RecvStats().Lost)

	l.Stop()
	for _, s := range st.Services {
		assert.Error(t, syscall.Kill(s.PID, 0), "%s (pid %d) still alive after lab up stopped", s.Name, s.PID)
	}
	assert.Error(t, syscall.Kill(st.PID, 0), "supervisor still alive")
	_, err = l.arlab(ctx, "lab", "status")
	assert.Error(t, err, "status after stop")
}
