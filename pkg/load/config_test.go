package load

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validConfig() Config {
	c := Config{Calls: 10, CPS: 5, Hold: time.Second, Target: "sip:127.0.0.1:5090;transport=tcp"}
	c.Defaults()
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want []string // substrings of the error; none = valid
	}{
		{name: "valid", mut: func(*Config) {}},
		{name: "all at once", mut: func(c *Config) { c.CPS = 0 }},
		{name: "recorders as host:port and URL", mut: func(c *Config) { c.Recorders = []string{"127.0.0.1:8090", "https://rec:1/"} }},
		{name: "unknown mode", mut: func(c *Config) { c.Mode = "x" }, want: []string{`mode: unknown mode "x"`}},
		{name: "lab mode not yet", mut: func(c *Config) { c.Mode = ModeLab }, want: []string{"mode: lab mode needs"}},
		{name: "no calls", mut: func(c *Config) { c.Calls = 0 }, want: []string{"calls: 0 is out of range"}},
		{name: "too many calls", mut: func(c *Config) { c.Calls = MaxCalls + 1 }, want: []string{"calls:"}},
		{name: "negative cps", mut: func(c *Config) { c.CPS = -1 }, want: []string{"cps: -1 is negative"}},
		{name: "zero hold", mut: func(c *Config) { c.Hold = -time.Second }, want: []string{"hold: -1s must be positive"}},
		{name: "negative max-active", mut: func(c *Config) { c.MaxActive = -1 }, want: []string{"max-active:"}},
		{name: "negative p99 limit", mut: func(c *Config) { c.SetupP99Limit = -time.Millisecond }, want: []string{"setup-p99-limit:"}},
		{name: "no target", mut: func(c *Config) { c.Target = "" }, want: []string{"target: required"}},
		{name: "bad target", mut: func(c *Config) { c.Target = "http://x" }, want: []string{"target:"}},
		{name: "bad transport", mut: func(c *Config) { c.Target = "sip:h;transport=sctp" }, want: []string{`transport "sctp"`}},
		{name: "bad recorder", mut: func(c *Config) { c.Recorders = []string{"ftp://x"} }, want: []string{"recorders[0]:"}},
		{name: "bad local ip", mut: func(c *Config) { c.LocalIP = "localhost" }, want: []string{"local-ip:"}},
		{name: "sockets", mut: func(c *Config) { c.RTPSockets = 65 }, want: []string{"rtp-sockets:"}},
		{name: "progress too often", mut: func(c *Config) { c.Progress = 100 * time.Millisecond }, want: []string{"progress:"}},
		{name: "process", mut: func(c *Config) { c.Processes = []Process{{PID: 0}} },
			want: []string{"processes[0].pid:", "processes[0].name: required"}},
		{name: "several at once", mut: func(c *Config) { c.Calls, c.Target = 0, "" }, want: []string{"calls:", "target:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mut(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrConfig)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.Defaults()
	assert.Equal(t, ModeRecorder, c.Mode)
	assert.Equal(t, DefaultHold, c.Hold)
	assert.Equal(t, 4, c.RTPSockets)
	assert.Equal(t, DefaultSetupTimeout, c.SetupTimeout)
	assert.Equal(t, DefaultVerifySample, c.VerifySample)
	assert.Equal(t, DefaultProgress, c.Progress)
	assert.NotNil(t, c.Logger)
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, transport, host string
		port                int
	}{
		{"sip:127.0.0.1:5090;transport=tcp", "tcp", "127.0.0.1", 5090},
		{"sip:srs@10.0.0.1:5070;transport=TCP", "tcp", "10.0.0.1", 5070},
		{"sip:127.0.0.1", "udp", "127.0.0.1", 5060},
		{"sips:rec.example.com", "tls", "rec.example.com", 5061},
		{"sip:rec:5090;transport=tls", "tls", "rec", 5090},
	}
	for _, tc := range tests {
		u, tr, err := parseTarget(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.transport, tr, tc.in)
		assert.Equal(t, tc.host, u.Host, tc.in)
		assert.Equal(t, tc.port, u.Port, tc.in)
	}
	for _, bad := range []string{"", "tel:+1555", "sip:", "sip:h;transport=ws"} {
		_, _, err := parseTarget(bad)
		assert.Error(t, err, bad)
	}
}
