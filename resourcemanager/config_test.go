package resourcemanager

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func validConfig() Config {
	c := Config{
		SIP:  Listen{UDP: "127.0.0.1:5070", TCP: "127.0.0.1:5070"},
		HTTP: "127.0.0.1:8070",
		Groups: []GroupConfig{
			{Name: "mediaservers", Kind: KindMediaServer, Members: []MemberConfig{{URI: "sip:127.0.0.1:5080"}}},
			{Name: "recorders", Kind: KindRecorder, Policy: PolicyLeastUsed, Members: []MemberConfig{
				{Name: "rec1", URI: "sip:127.0.0.1:5090;transport=tcp", Capacity: 10},
			}},
		},
	}
	c.Defaults()
	return c
}

// TestConfigFile decodes the example config that docs/resourcemanager.md
// shows, applies defaults and validates it.
func TestConfigFile(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	require.NoError(t, err)
	var doc struct {
		RM Config `yaml:"resourcemanager"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&doc))
	c := doc.RM
	c.Defaults()
	require.NoError(t, c.Validate())
	assert.Equal(t, 5*time.Second, c.Health.Interval)
	assert.Equal(t, 2*time.Second, c.Health.Timeout)
	assert.Equal(t, 3, c.Health.DownAfter)
	assert.Equal(t, 1, c.Health.UpAfter)
	assert.Equal(t, 4*time.Second, c.InviteTimeout)
	assert.Equal(t, 70, c.MaxForwards)
	require.Len(t, c.Groups, 3)
	assert.Equal(t, PolicyRoundRobin, c.Groups[0].Policy)
	assert.Equal(t, "127.0.0.1:5080", c.Groups[0].Members[0].Name, "default member name is host:port")
	assert.Equal(t, 1, c.Groups[0].Members[0].Weight)
	assert.Equal(t, []string{"7001", "7002"}, c.Groups[2].DNs)
	assert.Equal(t, []int{404}, c.Groups[1].NoFailover)
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Groups: []GroupConfig{{Members: []MemberConfig{{URI: "sips:rec.example.com"}}}}}
	c.Defaults()
	assert.Equal(t, HealthConfig{Interval: 5 * time.Second, Timeout: 2 * time.Second, DownAfter: 3, UpAfter: 1}, c.Health)
	assert.Equal(t, 4*time.Second, c.InviteTimeout)
	assert.Equal(t, 60*time.Second, c.RingTimeout)
	assert.Equal(t, 12*time.Second, c.FailoverTimeout)
	assert.Equal(t, 12*time.Hour, c.SessionTTL)
	assert.Equal(t, PolicyRoundRobin, c.Groups[0].Policy)
	assert.Equal(t, HashCallID, c.Groups[0].HashKey)
	assert.Equal(t, "rec.example.com:5061", c.Groups[0].Members[0].Name)
	again := c
	again.Defaults()
	assert.Equal(t, c, again, "Defaults is idempotent")
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, validConfig().Validate())
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"no listener", func(c *Config) { c.SIP = Listen{} }, "resourcemanager.sip: no SIP listener"},
		{"bad listen", func(c *Config) { c.SIP.UDP = "localhost" }, `resourcemanager.sip.udp: "localhost" is not an ip:port address`},
		{"bad http", func(c *Config) { c.HTTP = ":x" }, `resourcemanager.http: ":x" is not an ip:port address`},
		{"no groups", func(c *Config) { c.Groups = nil }, "resourcemanager.groups: no groups"},
		{"policy", func(c *Config) { c.Groups[1].Policy = "x" },
			`resourcemanager.groups[1].policy: unknown policy "x" (want round-robin|least-used|weighted|hash|hunt)`},
		{"kind", func(c *Config) { c.Groups[0].Kind = "mixer" }, `resourcemanager.groups[0].kind: unknown kind "mixer" (want mediaserver|recorder)`},
		{"hash key", func(c *Config) { c.Groups[1].HashKey = "from" }, `resourcemanager.groups[1].hash-key: unknown hash key "from"`},
		{"dup group", func(c *Config) { c.Groups[1].Name = "mediaservers" }, `resourcemanager.groups[1].name: "mediaservers" is already defined at groups[0]`},
		{"group name", func(c *Config) { c.Groups[0].Name = "a b" }, `resourcemanager.groups[0].name: "a b" is not a name`},
		{"no members", func(c *Config) { c.Groups[0].Members = nil }, "resourcemanager.groups[0].members: no members"},
		{"member uri", func(c *Config) { c.Groups[1].Members[0].URI = "http://x" }, `resourcemanager.groups[1].members[0].uri: "http://x" is not a sip: or sips: URI`},
		{"member transport", func(c *Config) { c.Groups[1].Members[0].URI = "sip:1.2.3.4;transport=sctp" }, `unsupported transport "sctp"`},
		{"member needs listener", func(c *Config) { c.Groups[1].Members[0].URI = "sips:1.2.3.4" },
			"resourcemanager.groups[1].members[0].uri: tls member needs resourcemanager.sip.tls"},
		{"dup member", func(c *Config) {
			c.Groups[1].Members = append(c.Groups[1].Members, MemberConfig{Name: "rec1", URI: "sip:1.2.3.4"})
		}, `resourcemanager.groups[1].members[1].name: "rec1" is already used by members[0]`},
		{"capacity", func(c *Config) { c.Groups[1].Members[0].Capacity = -1 }, "resourcemanager.groups[1].members[0].capacity: must not be negative"},
		{"weight", func(c *Config) { c.Groups[1].Members[0].Weight = -2 }, "resourcemanager.groups[1].members[0].weight: must not be negative"},
		{"no-failover", func(c *Config) { c.Groups[1].NoFailover = []int{200} }, "resourcemanager.groups[1].no-failover[0]: 200 is not a final failure code"},
		{"dns on media", func(c *Config) { c.Groups[0].DNs = []string{"7001"} }, "resourcemanager.groups[0].dns: only recorder groups map DNs"},
		{"dn pattern", func(c *Config) { c.Groups[1].DNs = []string{"7*1"} }, `resourcemanager.groups[1].dns[0]: "7*1" is not a DN or DN prefix`},
		{"dup dn", func(c *Config) {
			c.Groups = append(c.Groups, GroupConfig{Name: "rec2", Kind: KindRecorder, Policy: PolicyHunt, HashKey: HashCallID,
				Members: []MemberConfig{{Name: "r", URI: "sip:1.1.1.1"}}, DNs: []string{"7001"}})
			c.Groups[1].DNs = []string{"7001"}
		}, `resourcemanager.groups[2].dns[0]: "7001" is already mapped to group "recorders"`},
		{"interval", func(c *Config) { c.Health.Interval = -time.Second }, "resourcemanager.health.interval: must be positive"},
		{"timeout vs interval", func(c *Config) { c.Health.Timeout = time.Minute }, "resourcemanager.health.timeout: 1m0s is longer than health.interval 5s"},
		{"down-after", func(c *Config) { c.Health.DownAfter = -1 }, "resourcemanager.health.down-after: must be at least 1"},
		{"invite vs failover", func(c *Config) { c.InviteTimeout = time.Minute }, "resourcemanager.invite-timeout: 1m0s is longer than failover-timeout 12s"},
		{"max-forwards", func(c *Config) { c.MaxForwards = 300 }, "resourcemanager.max-forwards: want 1..255, got 300"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
