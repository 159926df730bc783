package agent

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// TestDesktop drives a desktop on DN 7001 through a call: events printed,
// user data attached and listed, errors shown, the call released.
func TestDesktop(t *testing.T) {
	s := startLab(t)
	startPhone(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	cust := customer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()

	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- RunDesktop(ctx, Config{Addr: s.TLibAddr().String(), DN: "7001", Logger: quiet()}, inR, out)
	}()
	waitOutput(t, out, "DN 7001 registered")
	type_ := func(line string) {
		_, err := io.WriteString(inW, line+"\n")
		require.NoError(t, err)
	}

	type_("release")
	waitOutput(t, out, "no call: give a ConnID")
	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	waitOutput(t, out, "EventRinging conn=")
	waitOutput(t, out, "EventEstablished conn=")
	connID := regexp.MustCompile(`EventEstablished conn=(\w+)`).FindStringSubmatch(out.String())[1]
	assert.Contains(t, out.String(), "this=7001 other=+15551230000 ani=+15551230000 dnis=7001 type=Inbound")

	type_("attach segment=gold tier=2")
	waitOutput(t, out, "ok: EventAttachedDataChanged")
	waitOutput(t, out, "data={segment=gold,tier=2}")
	type_("delete " + connID + " tier")
	waitOutput(t, out, "data={segment=gold}\n")
	type_("calls")
	waitOutput(t, out, connID+" Established")
	type_("answer")
	waitOutput(t, out, "error 5:") // not ringing
	type_("release 0000000000000bad")
	waitOutput(t, out, "error 1:")
	type_("transfer 7002")
	waitOutput(t, out, `unknown command "transfer"`)
	type_("help")
	waitOutput(t, out, "make <dn>")

	type_("release")
	waitOutput(t, out, "ok: EventReleased")
	select {
	case <-call.Done():
	case <-time.After(waitFor):
		t.Fatal("the customer was not released")
	}
	type_("calls")
	waitOutput(t, out, "no calls")
	type_("quit")
	require.NoError(t, <-done)
}

// TestDesktopEndsWithInput: EOF on input ends the desktop, as does ctx.
func TestDesktopEndsWithInput(t *testing.T) {
	s := startLab(t)
	cfg := Config{Addr: s.TLibAddr().String(), DN: "7002", Logger: quiet()}
	out := &syncBuffer{}
	require.NoError(t, RunDesktop(context.Background(), cfg, strings.NewReader("calls\n"), out))
	assert.Contains(t, out.String(), "no calls")

	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	defer inW.Close()
	done := make(chan error, 1)
	out2 := &syncBuffer{}
	go func() { done <- RunDesktop(ctx, cfg, inR, out2) }()
	waitOutput(t, out2, "registered")
	cancel()
	require.NoError(t, <-done)

	require.ErrorIs(t, RunDesktop(context.Background(), Config{Addr: cfg.Addr}, inR, out), ErrNoDN)
	err := RunDesktop(context.Background(), Config{Addr: cfg.Addr, DN: "9999"}, inR, out)
	require.ErrorIs(t, err, tlib.ErrUnknownDN)
}

// TestMakeCallFromDesktop: "make 7002" places a call from 7001's phone.
func TestMakeCallFromDesktop(t *testing.T) {
	s := startLab(t)
	startPhone(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	p2 := startPhone(t, s, phone.Config{DN: "7002", AutoAnswer: true})
	out := &syncBuffer{}
	inR, inW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- RunDesktop(context.Background(), Config{Addr: s.TLibAddr().String(), DN: "7001", Logger: quiet()}, inR, out)
	}()
	waitOutput(t, out, "registered")
	_, err := io.WriteString(inW, "make 7002\n")
	require.NoError(t, err)
	waitOutput(t, out, "ok: EventDialing")
	waitOutput(t, out, "EventEstablished")
	require.Eventually(t, func() bool { return len(p2.Calls()) == 1 }, waitFor, 10*time.Millisecond)
	_, err = io.WriteString(inW, "hangup\nquit\n")
	require.NoError(t, err)
	require.NoError(t, <-done)
	inW.Close()
	require.Eventually(t, func() bool { return len(p2.Calls()) == 0 }, waitFor, 10*time.Millisecond)
}

// TestRelease is the non-interactive `arlab agent release`.
func TestRelease(t *testing.T) {
	s := startLab(t)
	startPhone(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	cust := customer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	var connID string
	require.Eventually(t, func() bool {
		calls := s.Calls()
		if len(calls) == 1 && calls[0].State == "established" {
			connID = calls[0].ConnID
			return true
		}
		return false
	}, waitFor, 10*time.Millisecond)

	cfg := Config{Addr: s.TLibAddr().String(), DN: "7001", Logger: quiet()}
	require.NoError(t, Release(ctx, cfg, connID))
	select {
	case <-call.Done():
	case <-time.After(waitFor):
		t.Fatal("not released")
	}
	err = Release(ctx, cfg, connID)
	require.ErrorIs(t, err, tlib.ErrInvalidConnID)
	require.ErrorIs(t, Release(ctx, Config{Addr: cfg.Addr}, connID), ErrNoDN)
	require.Error(t, Release(ctx, Config{Addr: "127.0.0.1:1", DN: "7001"}, connID))
}
