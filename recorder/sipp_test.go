package recorder

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/media"
)

// waitSession waits until the recorder has a live session.
func waitSession(t *testing.T, r *Recorder, timeout time.Duration) *session {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if live := r.liveSessions(); len(live) > 0 {
			return live[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no recording session appeared")
	return nil
}

// feedRTP plays the role of the SRC's media: one tone per answered stream, paced at 20 ms,
// silent (timestamps still advancing, as a real SRC holding its streams) while the
// recording is paused, until the session ends.
func feedRTP(t *testing.T, s *session, tones []float64, laws []audio.Law) (wait func()) {
	t.Helper()
	s.mu.Lock()
	var ports []int
	for _, st := range s.streams {
		ports = append(ports, st.port)
	}
	s.mu.Unlock()
	require.Len(t, ports, len(tones))
	var sessions []*media.Session
	for i, p := range ports {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		ms, err := media.NewSession(media.Config{Conn: conn, PayloadType: laws[i].PayloadType(),
			Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p))})
		require.NoError(t, err)
		sessions = append(sessions, ms)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			for _, ms := range sessions {
				_ = ms.Close()
			}
		}()
		gens := make([]*audio.Tone, len(tones))
		for i, f := range tones {
			gens[i] = audio.NewTone(f, 0)
		}
		pcm := make([]int16, frameLen)
		payload := make([]byte, frameLen)
		// Frames follow the wall clock like a real SRC's media clock: after a scheduling
		// stall the due frames are sent at once instead of compressing time.
		start := time.Now()
		sent := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			s.mu.Lock()
			ended := s.ended
			s.mu.Unlock()
			if ended {
				return
			}
			paused := s.tl.Paused()
			for due := int(time.Since(start) / (20 * time.Millisecond)); sent < due; sent++ {
				for i, ms := range sessions {
					gens[i].Read(pcm)
					if paused {
						ms.AdvanceTimestamp(frameLen)
						continue
					}
					laws[i].Encode(payload, pcm)
					_ = ms.WriteFrame(payload, frameLen, false)
				}
			}
		}
	}()
	return wg.Wait
}

// TestSippAsSRC records a call whose SIP side is sipp (multipart SIPREC INVITE with two
// labelled streams, pause re-INVITE, resume, BYE) and whose RTP the test sends to the ports
// the recorder answered.
func TestSippAsSRC(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed: skipping the real-peer SIPREC test")
	}
	scenario, err := filepath.Abs("testdata/sipp/siprec_src.xml")
	require.NoError(t, err)
	r := startRecorder(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	work := t.TempDir()
	cmd := exec.CommandContext(ctx, sipp, r.SIPAddr("tcp").String(), "-sf", scenario, "-t", "t1", "-m", "1", "-l", "1",
		"-i", "127.0.0.1", "-nostdin", "-timeout", "15s", "-timeout_error", "-trace_err", "-trace_msg")
	cmd.Dir = work
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()

	s := waitSession(t, r, 5*time.Second)
	waitFeed := feedRTP(t, s, []float64{toneB, toneA}, []audio.Law{audio.Ulaw, audio.Alaw})
	select {
	case err := <-done:
		if err != nil {
			logs, _ := filepath.Glob(filepath.Join(work, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
		require.NoError(t, err, "sipp failed")
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
	waitFeed()

	rec := findByCallUUID(t, r, "SIPP-CALL-UUID-1")
	assert.Equal(t, StateComplete, rec.State)
	assert.Equal(t, "00710271981800ff", rec.ConnID)
	assert.Equal(t, "agent1", rec.AgentID)
	require.Len(t, rec.Participants, 2)
	assert.Equal(t, "sip:+15551230000@carrier.example", rec.Participants[0].AOR)
	assert.Equal(t, "Customer", rec.Participants[0].Name)
	assert.Equal(t, []string{"caller-leg"}, rec.Participants[0].Send)
	assert.Equal(t, "Alice Agent", rec.Channels[1].Name)
	require.Len(t, rec.Pauses, 1)
	p := rec.Pauses[0]
	assert.InDelta(t, 500, p.EndMs-p.StartMs, 100, "sipp pauses 500 ms")
	assert.InDelta(t, 2500, rec.DurationMs, 400, "sipp's call lasts about 2.5 s")

	f := downloadWAV(t, r, rec.ID)
	require.Equal(t, 2, f.Header.Channels)
	assert.InDelta(t, rec.DurationMs*8, f.Frames, 8)
	for ch, tone := range []float64{toneB, toneA} {
		expectSpans(t, f.Samples[ch], 40, span{100, int(p.StartMs), tone}, span{int(p.StartMs), int(p.EndMs), 0},
			span{int(p.EndMs), int(rec.DurationMs), tone})
	}
	assert.Equal(t, 200, api(t, r, "GET", "/api/v1/recordings/"+rec.ID+"/metadata", nil))
}
