package sipserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/mediaserver"
	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/resourcemanager"
	"github.com/arlab/arlab/tlib"
)

// prerecordGrace is the grace period of the test lab (SIP Server and
// recorder): above the 5 s of the "kept 5 s after the call" case.
const prerecordGrace = 6 * time.Second

// recLab is the whole recording chain in-process over real sockets: the
// SIP Server, a Resource Manager fronting media servers and recorders, the
// media servers (recording through the RM) and recorders (T-lib clients of
// the SIP Server, to keep pre-recordings).
type recLab struct {
	s    *Server
	rm   *resourcemanager.RM
	ms   []*mediaserver.Server
	recs []*recorder.Recorder
	api  recclient.Cluster
}

type labOptions struct {
	mediaServers int
	mutate       func(*Config)
	logger       *slog.Logger // default testLogger()
}

// freeTCPPort finds a free loopback TCP port for a service whose address
// others need before it starts (the RM: media servers send their recording
// sessions through it, and it needs their addresses). It picks below the
// kernel's ephemeral range, so no port-0 socket of a parallel test can take
// it between this check and the service's bind.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				low = v
			}
		}
	}
	for range 100 {
		port := 10000 + mrand.IntN(low-10000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		require.NoError(t, ln.Close())
		return port
	}
	t.Fatal("no free TCP port below the ephemeral range")
	return 0
}

// startLab starts a recording lab. The SIP Server's DNs are testConfig's
// plus recLabDNs.
func startLab(t testing.TB, o labOptions) *recLab {
	t.Helper()
	if o.mediaServers == 0 {
		o.mediaServers = 1
	}
	log := o.logger
	if log == nil {
		log = testLogger()
	}
	lab := &recLab{}
	tlibLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rmAddr := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))

	var recMembers []resourcemanager.MemberConfig
	for i := range 1 {
		var cfg recorder.Config
		cfg.Name = fmt.Sprintf("rec%d", i+1)
		cfg.SIP.TCP = "127.0.0.1:0"
		cfg.HTTP = "127.0.0.1:0"
		cfg.DataDir = t.TempDir()
		cfg.PrerecordGrace = prerecordGrace
		cfg.TLib = recorder.TLibConfig{Addr: tlibLn.Addr().String(), AppName: cfg.Name}
		r, err := recorder.New(cfg, recorder.WithLogger(log))
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background()))
		t.Cleanup(func() { _ = r.Close() })
		lab.recs = append(lab.recs, r)
		lab.api = append(lab.api, recclient.New(r.HTTPAddr().String(), ""))
		recMembers = append(recMembers, resourcemanager.MemberConfig{Name: cfg.Name, URI: fmt.Sprintf("sip:%s;transport=tcp", r.SIPAddr("tcp"))})
	}
	var msMembers []resourcemanager.MemberConfig
	for i := range o.mediaServers {
		cfg := mediaserver.Config{
			Name:               fmt.Sprintf("ms%d", i+1),
			SIP:                mediaserver.Listen{TCP: "127.0.0.1:0"},
			ResourceManager:    rmAddr,
			DefaultDestination: "sip:record@" + rmAddr + ";transport=tcp",
			LocalDir:           t.TempDir(),
			Failover:           true,
			InviteTimeout:      3 * time.Second,
		}
		ms, err := mediaserver.New(cfg, mediaserver.WithLogger(log))
		require.NoError(t, err)
		require.NoError(t, ms.Start(context.Background()))
		t.Cleanup(func() { _ = ms.Close() })
		lab.ms = append(lab.ms, ms)
		msMembers = append(msMembers, resourcemanager.MemberConfig{Name: cfg.Name, URI: fmt.Sprintf("sip:%s;transport=tcp", ms.SIPAddr("tcp"))})
	}
	rmCfg := resourcemanager.Config{
		SIP:           resourcemanager.Listen{TCP: rmAddr},
		Health:        resourcemanager.HealthConfig{Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, DownAfter: 1, UpAfter: 1},
		InviteTimeout: time.Second,
		Groups: []resourcemanager.GroupConfig{
			{Name: "mediaservers", Kind: resourcemanager.KindMediaServer, Members: msMembers},
			{Name: "recorders", Kind: resourcemanager.KindRecorder, Members: recMembers},
			// A group whose only recorder is not there: a recording sent to
			// it (dest sip:record@rm;group=broken) fails.
			{Name: "broken", Kind: resourcemanager.KindRecorder, NoFailover: []int{503},
				Members: []resourcemanager.MemberConfig{{Name: "gone", URI: fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", freeTCPPort(t))}}},
		},
	}
	rm, err := resourcemanager.New(rmCfg, resourcemanager.WithLogger(log))
	require.NoError(t, err)
	require.NoError(t, rm.Start(context.Background()))
	t.Cleanup(func() { _ = rm.Close() })
	lab.rm = rm

	cfg := testConfig()
	cfg.DNs = append(cfg.DNs, recLabDNs...)
	recordedDNs(&cfg, "7001")
	cfg.MediaControl = MediaControl{ResourceManager: rmAddr, Keepalive: 300 * time.Millisecond}
	cfg.Recording.PrerecordGrace = prerecordGrace
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	s, err := New(cfg, WithLogger(log), WithTLibListener(tlibLn))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	lab.s = s
	// The recorders reach T-lib in the background: pre-recordings are kept
	// through it.
	require.Eventually(t, func() bool { return len(s.tsrv.MonitorAllClients()) == len(lab.recs) }, 10*time.Second, 10*time.Millisecond)
	return lab
}

// recLabDNs are the recording lab's DNs beside testConfig's (whose 7001 gets
// record: true in the lab).
var recLabDNs = []DN{
	{Number: "7004", Type: Extension, Prerecord: true},
	{Number: "7005", Type: Extension, Prerecord: true},
	{Number: "7006", Type: Extension, Prerecord: true},
	{Number: "7007", Type: Extension},
	{Number: "7008", Type: Extension},
	{Number: "7009", Type: Extension, Record: true},
	{Number: "7010", Type: Extension, Record: true},
	{Number: "7011", Type: Extension},
	{Number: "7012", Type: Extension, Record: true, AutoAnswer: true},
	{Number: "7101", Type: Supervisor, AutoAnswer: true},
}

// recordedDNs turns record: true on for the given DNs of a config.
func recordedDNs(cfg *Config, dns ...string) {
	for i := range cfg.DNs {
		for _, dn := range dns {
			if cfg.DNs[i].Number == dn {
				cfg.DNs[i].Record = true
			}
		}
	}
}

// party starts a phone for dn registered with the lab's SIP Server that
// records what it hears.
func (lab *recLab) agent(t *testing.T, dn string, autoAnswer bool) *phone.Phone {
	t.Helper()
	return startAgent(t, lab.s, phone.Config{DN: dn, AutoAnswer: autoAnswer, RecordAudio: true})
}

// customer starts an unregistered caller with number num.
func (lab *recLab) customer(t *testing.T, num string) *phone.Phone {
	t.Helper()
	return startCustomer(t, lab.s, phone.Config{DN: num, RecordAudio: true})
}

// recordings returns the recordings of a call on every recorder.
func (lab *recLab) recordings(t *testing.T, callUUID string) []recclient.Found {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	found, err := lab.api.Search(ctx, recclient.Query{CallUUID: callUUID})
	require.NoError(t, err)
	return found
}

// finished waits until the call has n recordings, all finished, and returns
// them oldest first.
func (lab *recLab) finished(t *testing.T, callUUID string, n int) []recclient.Found {
	t.Helper()
	var out []recclient.Found
	require.Eventually(t, func() bool {
		out = lab.recordings(t, callUUID)
		if len(out) != n {
			return false
		}
		for _, r := range out {
			if r.Live() {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "want %d finished recordings of %s", n, callUUID)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// verify downloads a recording's audio and checks it with
// recclient.VerifyTones: each channel carries its party's tone and nothing
// else, pauses are silent. It returns the verification for more checks.
func (lab *recLab) verify(t *testing.T, f recclient.Found) recclient.Verification {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var cl *recclient.Client
	for _, c := range lab.api {
		if c.Base == f.Recorder {
			cl = c
		}
	}
	require.NotNil(t, cl, "recorder %s", f.Recorder)
	rc, err := cl.Audio(ctx, f.ID, -1)
	require.NoError(t, err)
	defer rc.Close()
	w, err := wav.Read(rc)
	require.NoError(t, err)
	v := recclient.VerifyTones(f.Recording, w)
	require.True(t, v.OK(), "recording %s: %v", f.ID, v.Problems())
	return v
}

// channelParties lists the DN of each channel of a recording.
func channelParties(f recclient.Found) []string {
	out := make([]string, len(f.Channels))
	for i, ch := range f.Channels {
		out[i] = ch.Label
	}
	return out
}

// expectData reads events until an EventAttachedDataChanged with
// GSIP_RECORD=val and returns it; other events on the way fail the test.
func expectRecordState(t *testing.T, ch <-chan *tlib.Message, val string) *tlib.Message {
	t.Helper()
	m := nextEvent(t, ch)
	require.Equal(t, tlib.EventAttachedDataChanged, m.Name, "%+v", m)
	require.Equal(t, val, m.UserData[tlib.KeyRecord], "%+v", m)
	return m
}

// heard reports whether p's call received tone hz for at least d in the
// last span of its received audio.
func heard(c *phone.Call, hz float64, d time.Duration) bool {
	rx := c.Media().Received()
	n := int(d.Seconds() * 8000)
	if len(rx) < n {
		return false
	}
	tail := rx[len(rx)-n:]
	f, ok := audio.DominantTone(tail, []float64{hz, 3300})
	return ok && f == hz
}

// waitHeard waits until c hears hz for 300 ms.
func waitHeard(t *testing.T, c *phone.Call, hz float64) {
	t.Helper()
	require.Eventually(t, func() bool { return heard(c, hz, 300*time.Millisecond) }, 5*time.Second, 20*time.Millisecond,
		"call %s does not hear %.0f Hz", c.ID(), hz)
}

// longestGap is the longest silent run inside the audio a call received
// (after its first and before its last audio), at 20 ms granularity.
func longestGap(rx []int16) time.Duration {
	segs := audio.Segments(rx, nil)
	var gap time.Duration
	for i, sg := range segs {
		if sg.Silent && i > 0 && i < len(segs)-1 && sg.Duration() > gap {
			gap = sg.Duration()
		}
	}
	return gap
}

// request sends a T-lib request and returns the reply or the T-lib error.
func request(t *testing.T, c *tlib.Client, m *tlib.Message) (*tlib.Message, *tlib.Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	reply, err := c.Request(ctx, m)
	var te *tlib.Error
	if errors.As(err, &te) {
		return nil, te
	}
	require.NoError(t, err)
	return reply, nil
}

// noLeftovers waits until nothing of the lab's calls remains: no call or
// dialog in the SIP Server, no conference in any media server, no live
// recording session in any recorder.
func (lab *recLab) noLeftovers(t *testing.T) {
	t.Helper()
	requireNoCalls(t, lab.s)
	require.Eventually(t, func() bool {
		for _, ms := range lab.ms {
			if len(ms.Conferences()) > 0 {
				return false
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		found, err := lab.api.Search(ctx, recclient.Query{})
		if err != nil {
			return false
		}
		for _, f := range found {
			if f.Live() {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "something of the calls is left")
}
