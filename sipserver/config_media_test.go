package sipserver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
)

func TestMediaConfigValidate(t *testing.T) {
	ok := testConfig()
	ok.MediaControl.ResourceManager = "127.0.0.1:5070"
	ok.Recording = RecordingConfig{Mode: "genesys", Sessions: "per-party", Destination: "sip:record@127.0.0.1:5070;transport=tcp"}
	ok.Defaults()
	require.NoError(t, ok.Validate())
	assert.Equal(t, "tcp", ok.MediaControl.Transport)
	assert.Equal(t, 2*time.Second, ok.MediaControl.Keepalive)
	assert.Equal(t, 60*time.Second, ok.Recording.PrerecordGrace)
	assert.Equal(t, DefaultFileName, ok.Recording.FileName)

	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"rm not host:port", func(c *Config) { c.MediaControl.ResourceManager = "127.0.0.1" }, "sipserver.media-control.resource-manager:"},
		{"rm bad port", func(c *Config) { c.MediaControl.ResourceManager = "127.0.0.1:70000" }, "sipserver.media-control.resource-manager:"},
		{"unknown transport", func(c *Config) { c.MediaControl.Transport = "sctp" }, "sipserver.media-control.transport: unknown"},
		{"transport without listener", func(c *Config) { c.MediaControl.Transport = "tls" }, "sipserver.media-control.transport: tls needs"},
		{"timeout", func(c *Config) { c.MediaControl.Timeout = -time.Second }, "sipserver.media-control.timeout:"},
		{"mode", func(c *Config) { c.Recording.Mode = "mp3" }, "sipserver.recording.mode:"},
		{"sessions", func(c *Config) { c.Recording.Sessions = "many" }, "sipserver.recording.sessions:"},
		{"destination", func(c *Config) { c.Recording.Destination = "http://rec" }, "sipserver.recording.destination:"},
		{"grace", func(c *Config) { c.Recording.PrerecordGrace = -time.Second }, "sipserver.recording.prerecord-grace:"},
		{"file name", func(c *Config) { c.Recording.FileName = "{calluuid}_{agent}" }, "sipserver.recording.file-name: unknown placeholder {agent}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCheckFileNameTemplate(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{DefaultFileName, ""},
		{"plain", ""},
		{"{id}", ""},
		{"a}b{dn}c", ""},
		{"", "must be 1 to"},
		{strings.Repeat("x", maxFileNameTemplate+1), "must be 1 to"},
		{"{calluuid", "unclosed {"},
		{"{}", "unknown placeholder {}"},
		{"{CallUUID}", "unknown placeholder {CallUUID}"},
	} {
		err := checkFileNameTemplate(tc.in)
		if tc.err == "" {
			assert.NoError(t, err, tc.in)
			continue
		}
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.err, tc.in)
	}
}

func FuzzCheckFileNameTemplate(f *testing.F) {
	for _, s := range []string{DefaultFileName, "{id}", "{", "}{", "{{dn}}", "x{host}y{date}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		if checkFileNameTemplate(tmpl) != nil {
			return
		}
		// An accepted template renders without a placeholder left.
		s := &Server{cfg: Config{Recording: RecordingConfig{FileName: tmpl}}, fnHost: "h"}
		c := &call{uuid: "U", connID: "C", ani: "A", dnis: "D", parties: [2]party{{number: "A"}, {number: "D"}}}
		out := s.recFileName(c, &recording{side: sideDest, id: "I"}, time.Unix(0, 0))
		for _, f := range fileNameFields {
			if strings.Contains(out, "{"+f+"}") && !strings.Contains(tmpl, "{{"+f+"}") {
				t.Fatalf("%q rendered %q", tmpl, out)
			}
		}
	})
}

func TestRecFileName(t *testing.T) {
	s := &Server{cfg: Config{Recording: RecordingConfig{FileName: DefaultFileName}}, fnHost: "sip1-dot-lab"}
	c := &call{uuid: "01RCC3", connID: "0071", ani: "+15551230000", dnis: "5000",
		parties: [2]party{{number: "+15551230000"}, {number: "7001", isDN: true}}}
	at := time.Date(2015, 10, 16, 14, 26, 23, 0, time.Local)
	assert.Equal(t, "01RCC3_7001_+15551230000_5000_2015-10-16_14-26-23_sip1-dot-lab__rec-77",
		s.recFileName(c, &recording{side: sideDest, id: "rec-77"}, at))
	s.cfg.Recording.FileName = "{connid}-{other}-{dn}"
	assert.Equal(t, "0071-7001-+15551230000", s.recFileName(c, &recording{side: sideOrigin}, at))
}

func TestRecordingStateAggregate(t *testing.T) {
	mk := func(want, state recWant, started, failed, tentative bool) *recording {
		return &recording{want: want, state: state, started: started, failed: failed, tentative: tentative}
	}
	for _, tc := range []struct {
		name string
		recs [2]*recording
		want string
	}{
		{"none", [2]*recording{}, ""},
		{"starting", [2]*recording{mk(wantOn, wantOn, false, false, false)}, ""},
		{"on", [2]*recording{mk(wantOn, wantOn, true, false, false)}, "ON"},
		{"paused", [2]*recording{mk(wantPaused, wantPaused, true, false, false)}, "PAUSED"},
		{"prerecord", [2]*recording{nil, mk(wantOn, wantOn, true, false, true)}, "PRERECORD"},
		{"failed", [2]*recording{mk(wantOn, wantOn, false, true, false)}, "FAILED"},
		{"off", [2]*recording{mk(wantOff, wantOff, true, false, false)}, "OFF"},
		{"stop requested, not yet done", [2]*recording{mk(wantOff, wantOn, true, false, false)}, "ON"},
		{"one side on wins over off", [2]*recording{mk(wantOff, wantOff, true, false, false), mk(wantOn, wantOn, true, false, false)}, "ON"},
		{"paused wins over failed", [2]*recording{mk(wantOn, wantOn, false, true, false), mk(wantPaused, wantPaused, true, false, false)}, "PAUSED"},
	} {
		c := &call{recs: tc.recs}
		got, _ := c.recordStateLocked()
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestCheckRouteExtensions(t *testing.T) {
	for _, tc := range []struct {
		ext  map[string]string
		fail bool
	}{
		{map[string]string{}, false},
		{map[string]string{"record": "source", "id": "r-1", "dest": "sip:rec@10.0.0.1"}, false},
		{map[string]string{"record": "disable_destination"}, false},
		{map[string]string{"record": "disable_source,disable_destination"}, true},
		{map[string]string{"record": "both"}, true},
		{map[string]string{"id": "a b"}, true},
		{map[string]string{"id": strings.Repeat("x", 65)}, true},
		{map[string]string{"dest": "mailto:x"}, true},
		{map[string]string{"dest": "file:///tmp"}, false},
	} {
		err := checkRouteExtensions(tc.ext)
		assert.Equal(t, tc.fail, err != nil, "%v: %v", tc.ext, err)
	}
	assert.True(t, msml.ValidID("0071027198180001-1"), "generated recording ids are valid MSML ids")
}
