package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/sipserver"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	assert.Equal(t, "127.0.0.1", c.Lab.Host)
	assert.Equal(t, 5*time.Second, c.SIPServer.RouteTimeout)
	d, ok := c.SIPServer.DN("7001")
	require.True(t, ok)
	assert.True(t, d.Record)
	assert.Equal(t, sipserver.SideBoth, d.RecordSide)
	rp, ok := c.SIPServer.DN("5000")
	require.True(t, ok)
	assert.Equal(t, sipserver.RoutingPoint, rp.Type)
	assert.Equal(t, 3013, c.SIPServer.PrivateMsgIDs.RecordStart)
	require.Len(t, c.MediaServers, 2)
	require.Len(t, c.Recorders, 2)
	assert.Equal(t, "arlab-data/rec2", c.Recorders[1].DataDir, "recorder data lives under the lab's data dir")
	assert.Equal(t, "rec2", c.Recorders[1].TLib.AppName)
	assert.Equal(t, "arlab-data/ms1/local-recordings", c.MediaServers[0].LocalDir)
	assert.Len(t, c.ResourceManager.Groups, 2)
}

func TestOverlay(t *testing.T) {
	c, err := Parse([]byte(`
lab:
  data-dir: /tmp/x
sipserver:
  route-timeout: 250ms
  dns:
    - {dn: "8001", record: true}
`), "lab.yaml")
	require.NoError(t, err)
	assert.Equal(t, "/tmp/x", c.Lab.DataDir)
	assert.Equal(t, "127.0.0.1", c.Lab.Host, "keys not set keep the default")
	assert.Equal(t, 250*time.Millisecond, c.SIPServer.RouteTimeout)
	require.Len(t, c.SIPServer.DNs, 1, "a list replaces the default list")
	assert.Equal(t, sipserver.Extension, c.SIPServer.DNs[0].Type)
}

func TestExternalRecorderReplacesOurs(t *testing.T) {
	c, err := Parse([]byte("lab: {external-recorder: \"sip:10.1.2.3:5060;transport=tcp\"}\n"), "lab.yaml")
	require.NoError(t, err)
	assert.Empty(t, c.Recorders)
	for _, g := range c.ResourceManager.Groups {
		if g.Kind == "recorder" {
			require.Len(t, g.Members, 1)
			assert.Equal(t, "sip:10.1.2.3:5060;transport=tcp", g.Members[0].URI)
		}
	}
	_, err = Parse([]byte("lab: {external-recorder: \"not a uri\"}\n"), "lab.yaml")
	assert.ErrorContains(t, err, "resourcemanager.groups[1].members[0]")
}

func TestErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top key", "labb: {}\n", []string{`labb (line 1): unknown key; did you mean "lab"?`}},
		{"unknown nested key", "lab:\n  data-dri: x\n", []string{`lab.data-dri (line 2): unknown key; did you mean "data-dir"?`}},
		{"unknown key in list item", "sipserver:\n  dns:\n    - {dn: '1', recrod: true}\n", []string{"sipserver.dns[0].recrod (line 3): unknown key"}},
		{"bad host", "lab: {host: nowhere}\n", []string{`lab.host: "nowhere" is not an IP address`}},
		{"bad recorder", "recorders: [{name: r1, sip: {tcp: 'x'}}]\n", []string{`recorders[0].sip.tcp: "x" is not an ip:port address`}},
		{"bad media server", "mediaservers: [{name: m, pause-mode: nap}]\n", []string{"mediaservers[0].pause-mode"}},
		{"duplicate names", "recorders: [{name: a, sip: {tcp: '127.0.0.1:1'}}, {name: a, sip: {tcp: '127.0.0.1:2'}}]\n", []string{`recorders[1].name: "a" is already the name of recorders[0]`}},
		{"bad rm policy", "resourcemanager: {groups: [{name: g, kind: recorder, policy: random, members: [{uri: 'sip:127.0.0.1:1'}]}]}\n", []string{"resourcemanager.groups[0].policy"}},
		{"bad dn type", "sipserver: {dns: [{dn: '1', type: phone}]}\n", []string{`sipserver.dns[0].type: unknown type "phone"`}},
		{"duplicate dn", "sipserver: {dns: [{dn: '1'}, {dn: '1'}]}\n", []string{`sipserver.dns[1].dn: "1" is already defined at dns[0]`}},
		{"bad default route", "sipserver: {dns: [{dn: '5', type: routing-point, default-route: '9'}]}\n", []string{`sipserver.dns[0].default-route: "9" is not a configured DN`}},
		{"duplicate private id", "sipserver: {private-msg-ids: {record-stop: 3013}}\n", []string{"is also used by"}},
		{"bad duration", "sipserver: {route-timeout: soon}\n", []string{"soon"}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping"}},
		{"not yaml", "lab: [\n", []string{"invalid lab config"}},
		{"tls half", "lab: {tls: {cert: a.pem}}\n", []string{"lab.tls: cert and key go together"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "lab.yaml")
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(p, []byte("lab: {data-dir: here}\n"), 0o644))
	c, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, "here", c.Lab.DataDir)

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileSize)), 0o644))
	_, err = Load(big)
	assert.ErrorIs(t, err, ErrInvalid)

	c, err = Load("")
	require.NoError(t, err)
	assert.Equal(t, Default(), c)
}

// TestMarshalRoundTrip: what `arlab config print` shows loads back to the same config.
func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	b, err := c.Marshal()
	require.NoError(t, err)
	back, err := Parse(b, "printed")
	require.NoError(t, err)
	assert.Equal(t, c, back)
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("lab: {host: 1.2.3.4}\n"))
	f.Add([]byte("sipserver: {dns: [{dn: '1', type: routing-point}]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b, "fuzz")
		if err == nil {
			require.NoError(t, c.Validate())
		}
	})
}
