package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/mediaserver"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/resourcemanager"
	"github.com/arlab/arlab/sipserver"
	"github.com/arlab/arlab/tlib"
)

// startMediaLab runs a SIP Server that records through a Resource Manager,
// a media server and a recorder, with agents 7001-7002 and supervisor 7100.
func startMediaLab(t *testing.T) *sipserver.Server {
	t.Helper()
	var rcfg recorder.Config
	rcfg.Name, rcfg.SIP.TCP, rcfg.DataDir = "rec1", "127.0.0.1:0", t.TempDir()
	rec, err := recorder.New(rcfg, recorder.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, rec.Start(context.Background()))
	t.Cleanup(func() { _ = rec.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rmAddr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ms, err := mediaserver.New(mediaserver.Config{
		SIP: mediaserver.Listen{TCP: "127.0.0.1:0"}, ResourceManager: rmAddr,
		DefaultDestination: "sip:record@" + rmAddr + ";transport=tcp", LocalDir: t.TempDir(),
	}, mediaserver.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, ms.Start(context.Background()))
	t.Cleanup(func() { _ = ms.Close() })

	rm, err := resourcemanager.New(resourcemanager.Config{
		SIP: resourcemanager.Listen{TCP: rmAddr},
		Groups: []resourcemanager.GroupConfig{
			{Name: "ms", Kind: resourcemanager.KindMediaServer, Members: []resourcemanager.MemberConfig{{URI: fmt.Sprintf("sip:%s;transport=tcp", ms.SIPAddr("tcp"))}}},
			{Name: "rec", Kind: resourcemanager.KindRecorder, Members: []resourcemanager.MemberConfig{{URI: fmt.Sprintf("sip:%s;transport=tcp", rec.SIPAddr("tcp"))}}},
		},
	}, resourcemanager.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, rm.Start(context.Background()))
	t.Cleanup(func() { _ = rm.Close() })

	s, err := sipserver.New(sipserver.Config{
		SIP:  sipserver.Listen{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0"},
		TLib: "127.0.0.1:0",
		DNs: []sipserver.DN{
			{Number: "7001", AutoAnswer: true},
			{Number: "7002", AutoAnswer: true},
			{Number: "7100", Type: sipserver.Supervisor, AutoAnswer: true},
		},
		MediaControl:  sipserver.MediaControl{ResourceManager: rmAddr},
		PrivateMsgIDs: sipserver.PrivateMsgIDs{RecordStart: 4001, RecordStop: 4002, RecordPause: 4003, RecordResume: 4004},
	}, sipserver.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// TestDesktopRecordAndMonitor: the desktop's record and monitor commands,
// with the SIP Server's private ids configured; then the same controls from
// scripts (Record, Monitor, CancelMonitor).
func TestDesktopRecordAndMonitor(t *testing.T) {
	s := startMediaLab(t)
	startPhone(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	cust := customer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitFor)
	defer cancel()
	ids := RecordIDs{Start: 4001, Stop: 4002, Pause: 4003, Resume: 4004}

	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- RunDesktop(ctx, Config{Addr: s.TLibAddr().String(), DN: "7001", Logger: quiet(), RecordIDs: ids}, inR, out)
	}()
	waitOutput(t, out, "DN 7001 registered")
	type_ := func(line string) {
		_, err := io.WriteString(inW, line+"\n")
		require.NoError(t, err)
	}

	type_("record pause")
	waitOutput(t, out, "no call: give a ConnID")
	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	waitOutput(t, out, "EventEstablished conn=")
	connID := regexp.MustCompile(`EventEstablished conn=(\w+)`).FindStringSubmatch(out.String())[1]

	type_("record pause")
	waitOutput(t, out, "error 5: no recording")
	type_("record start id=desk-1")
	waitOutput(t, out, "ok: EventACK")
	waitCount(t, out, "GSIP_RECORD=ON", 1)
	type_("record pause " + connID)
	waitCount(t, out, "GSIP_RECORD=PAUSED", 1)
	type_("record resume")
	waitCount(t, out, "GSIP_RECORD=ON", 2)
	type_("record stop")
	waitCount(t, out, "GSIP_RECORD=OFF", 1)

	// The same from scripts, as the supervisor.
	sup := Config{Addr: s.TLibAddr().String(), DN: "7100", Logger: quiet(), RecordIDs: ids}
	require.NoError(t, Record(ctx, sup, RecordStart, connID, map[string]string{"record": "source"}))
	waitCount(t, out, "GSIP_RECORD=ON", 3)
	err = Record(ctx, sup, RecordStart, connID, nil)
	var te *tlib.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, tlib.ErrInvalidState, te.Code)
	require.ErrorIs(t, Record(ctx, sup, "rewind", connID, nil), ErrBadAction)
	require.Error(t, Record(ctx, sup, RecordStop, "", nil))
	require.NoError(t, Record(ctx, sup, RecordStop, connID, nil))

	// The desktop's DN monitors: 7001 monitors 7002.
	type_("monitor 7002 coach agent")
	waitOutput(t, out, "ok: EventMonitoringNextCall")
	type_("monitor cancel 7002")
	waitOutput(t, out, "ok: EventMonitoringCancelled")
	require.NoError(t, Monitor(ctx, sup, "7001", "coach", "agent"))
	waitOutput(t, out, "EventMonitoringNextCall this=7001")
	require.Error(t, Monitor(ctx, sup, "7001", "connect", ""), "connect mode is refused")
	require.NoError(t, CancelMonitor(ctx, sup, "7001"))
	waitOutput(t, out, "EventMonitoringCancelled this=7001")
	require.ErrorAs(t, CancelMonitor(ctx, sup, "7001"), &te)

	type_("release")
	waitOutput(t, out, "ok: EventReleased")
	select {
	case <-call.Done():
	case <-time.After(waitFor):
		t.Fatal("the customer was not released")
	}
	type_("quit")
	require.NoError(t, <-done)
}

// TestDesktopMonitorCommand: a supervisor's desktop asks to monitor and
// cancels.
func TestDesktopMonitorCommand(t *testing.T) {
	s := startMediaLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- RunDesktop(ctx, Config{Addr: s.TLibAddr().String(), DN: "7100", Logger: quiet()}, inR, out)
	}()
	waitOutput(t, out, "DN 7100 registered")
	_, err := io.WriteString(inW, "monitor 7002 coach agent\n")
	require.NoError(t, err)
	waitOutput(t, out, "ok: EventMonitoringNextCall")
	waitOutput(t, out, "EventMonitoringNextCall this=7100 other=7002")
	_, err = io.WriteString(inW, "monitor cancel 7002\nmonitor cancel 7002\nquit\n")
	require.NoError(t, err)
	waitOutput(t, out, "ok: EventMonitoringCancelled")
	waitOutput(t, out, "error 5:")
	require.NoError(t, <-done)
}

// waitCount waits until out holds want n times.
func waitCount(t *testing.T, out *syncBuffer, want string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Count(out.String(), want) >= n }, waitFor, 5*time.Millisecond,
		"output lacks %d × %q:\n%s", n, want, out.String())
}
