package mediaserver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.Defaults()
	require.NoError(t, c.Validate())
	assert.Equal(t, PauseReinviteInactive, c.PauseMode)
	assert.Equal(t, "siprec", c.RecordMode)
	assert.Equal(t, "single", c.SessionLayout)
	assert.Equal(t, "tcp", c.Transport)
	assert.Equal(t, "off", c.SRTP)
	assert.Equal(t, 10*time.Second, c.InviteTimeout)
}

// TestConfigYAML: keys are kebab-case and round-trip.
func TestConfigYAML(t *testing.T) {
	const doc = `
name: ms2
sip: {udp: "127.0.0.1:5072", tcp: "127.0.0.1:5072", tls: "127.0.0.1:5073"}
http: "127.0.0.1:8072"
rtp-ports: {min: 40000, max: 40999}
advertise-addr: 127.0.0.1
resource-manager: "127.0.0.1:5090"
default-destination: "sip:record@127.0.0.1:5090"
record-mode: genesys
session-layout: per-party
pause-mode: silence
local-dir: /tmp/rec
srtp: sdes
transport: tls
failover: true
invite-timeout: 4s
keepalive: 5s
max-conferences: 10
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	c.Defaults()
	require.NoError(t, c.Validate())
	assert.Equal(t, Config{Name: "ms2", SIP: Listen{UDP: "127.0.0.1:5072", TCP: "127.0.0.1:5072", TLS: "127.0.0.1:5073"},
		HTTP: "127.0.0.1:8072", RTPPorts: PortRange{40000, 40999}, AdvertiseAddr: "127.0.0.1",
		ResourceManager: "127.0.0.1:5090", DefaultDestination: "sip:record@127.0.0.1:5090", RecordMode: "genesys",
		SessionLayout: "per-party", PauseMode: PauseSilence, LocalDir: "/tmp/rec", SRTP: "sdes", Transport: "tls",
		Failover: true, InviteTimeout: 4 * time.Second, Keepalive: 5 * time.Second, MaxConferences: 10}, c)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"name", func(c *Config) { c.Name = "ms 1" }, "mediaserver.name:"},
		{"sip addr", func(c *Config) { c.SIP.UDP = "localhost:5060" }, "mediaserver.sip.udp:"},
		{"no sip", func(c *Config) { c.SIP = Listen{}; c.Transport = "udp" }, "mediaserver.sip:"},
		{"http", func(c *Config) { c.HTTP = "x" }, "mediaserver.http:"},
		{"ports low", func(c *Config) { c.RTPPorts = PortRange{80, 90} }, "mediaserver.rtp-ports.min:"},
		{"ports empty", func(c *Config) { c.RTPPorts = PortRange{30000, 30000} }, "mediaserver.rtp-ports.max:"},
		{"advertise", func(c *Config) { c.AdvertiseAddr = "ms.example" }, "mediaserver.advertise-addr:"},
		{"rm", func(c *Config) { c.ResourceManager = "rm:5070" }, "mediaserver.resource-manager:"},
		{"default dest", func(c *Config) { c.DefaultDestination = "mailto:x" }, "mediaserver.default-destination:"},
		{"mode", func(c *Config) { c.RecordMode = "mp3" }, "mediaserver.record-mode:"},
		{"layout", func(c *Config) { c.SessionLayout = "mono" }, "mediaserver.session-layout:"},
		{"pause", func(c *Config) { c.PauseMode = "mute" }, "mediaserver.pause-mode:"},
		{"srtp", func(c *Config) { c.SRTP = "dtls" }, "mediaserver.srtp:"},
		{"transport", func(c *Config) { c.Transport = "sctp" }, "mediaserver.transport:"},
		{"transport without listener", func(c *Config) { c.Transport = "tls" }, "mediaserver.sip.tls:"},
		{"invite timeout", func(c *Config) { c.InviteTimeout = time.Millisecond }, "mediaserver.invite-timeout:"},
		{"keepalive", func(c *Config) { c.Keepalive = time.Millisecond }, "mediaserver.keepalive:"},
		{"max conferences", func(c *Config) { c.MaxConferences = -1 }, "mediaserver.max-conferences:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			c.Defaults()
			tc.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, c.ValidateAt("mediaservers[1]").Error(), "mediaservers[1]."+strings.TrimPrefix(tc.want, "mediaserver."))
		})
	}
	_, err := New(Config{Name: "bad name"})
	assert.ErrorIs(t, err, ErrConfig)
}
