package mediaserver

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
)

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + s.HTTPAddr().String() + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// TestHTTPAndUDPRecording: the HTTP API reports the conference, and a SIPREC
// recording over UDP (INVITE larger than sipgo's default 1300-byte limit)
// works because the limit is raised.
func TestHTTPAndUDPRecording(t *testing.T) {
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-u", msml.Record{Transport: "udp",
		Dests: []msml.Dest{{URI: "sip:srs@" + srs.lis.Addr("udp").String()}}})
	ss := srs.waitSession(5 * time.Second)
	assert.Equal(t, "UDP", ss.invite.Transport())
	assert.Greater(t, len(ss.invite.String()), 1300)
	eventually(t, 3*time.Second, func() bool { return ss.stream(0).count() > 10 }, "audio over the UDP-signalled session")

	code, body := get(t, b.ms, "/healthz")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok\n", body)
	code, body = get(t, b.ms, "/metrics")
	assert.Equal(t, 200, code)
	for _, want := range []string{"arlab_mediaserver_conferences 1\n", "arlab_mediaserver_legs 2\n",
		"arlab_mediaserver_recordings 1\n", "arlab_mediaserver_recording_sessions_up 1\n", "# TYPE arlab_mediaserver_legs_total counter"} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "arlab_mediaserver_rtp_recorded_packets 0\n")
	code, body = get(t, b.ms, "/api/conferences/c1")
	assert.Equal(t, 200, code)
	assert.True(t, strings.Contains(body, `"id": "rec-u"`) && strings.Contains(body, `"state": "up"`), body)
	code, _ = get(t, b.ms, "/api/conferences/nope")
	assert.Equal(t, 404, code)
}
