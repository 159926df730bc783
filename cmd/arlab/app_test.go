package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/phone"
)

func runArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, append([]string{"arlab"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, _, err := runArgs(t, "--help")
	require.NoError(t, err)
	for _, cmd := range newApp(nil, nil).Commands {
		assert.Contains(t, out, cmd.Name, "command %s missing from --help", cmd.Name)
		assert.NotEmpty(t, cmd.Usage, "command %s has no one-line purpose", cmd.Name)
		sub, _, err := runArgs(t, cmd.Name, "--help")
		require.NoError(t, err)
		assert.Contains(t, sub, cmd.Usage)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runArgs(t, "version")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "arlab "), out)
}

func TestConfigPrintRoundTrips(t *testing.T) {
	out, _, err := runArgs(t, "config", "print")
	require.NoError(t, err)
	c, err := config.Parse([]byte(out), "printed")
	require.NoError(t, err)
	assert.Equal(t, config.Default(), c)

	def, _, err := runArgs(t, "config", "print", "--default")
	require.NoError(t, err)
	assert.Equal(t, string(config.DefaultYAML()), def)
}

func TestConfigErrorsExitTwo(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("lab:\n  hots: 1.2.3.4\n"), 0o644))
	_, _, err := runArgs(t, "-c", bad, "config", "print")
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, err.Error(), `lab.hots (line 2): unknown key; did you mean "host"?`)

	_, _, err = runArgs(t, "config", "validate", bad)
	assert.Equal(t, 2, exitCode(err))
	out, _, err := runArgs(t, "config", "validate")
	require.NoError(t, err)
	assert.Contains(t, out, "embedded default: ok")
}

func TestBadGlobalFlags(t *testing.T) {
	_, _, err := runArgs(t, "--log-level", "loud", "version")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--log-level")
	_, _, err = runArgs(t, "--log-format", "xml", "version")
	assert.Error(t, err)
}

func TestDemoUnknownFlow(t *testing.T) {
	_, _, err := runArgs(t, "demo", "nope")
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, err.Error(), "phone-call")
	out, _, err := runArgs(t, "demo", "--list")
	require.NoError(t, err)
	assert.Contains(t, out, "phone-call-sips")
}

func TestDemoPhoneCallPasses(t *testing.T) {
	out, _, err := runArgs(t, "demo", "phone-call")
	require.NoError(t, err, out)
	assert.Regexp(t, `phone-call +PASS`, out)
	assert.Contains(t, out, "1 passed, 0 failed")
}

// TestPhoneCommandCalls runs `arlab phone --call` against an answering phone.
func TestPhoneCommandCalls(t *testing.T) {
	agent, err := phone.New(phone.Config{DN: "7001", AutoAnswer: true})
	require.NoError(t, err)
	require.NoError(t, agent.Start(context.Background()))
	defer agent.Close()
	out, _, err := runArgs(t, "phone", "--dn", "+15550001", "--call", fmt.Sprintf("sip:7001@%s", agent.Addr()), "--duration", "1s")
	require.NoError(t, err, out)
	assert.Contains(t, out, "answered")
	assert.Contains(t, out, "lost 0")

	_, _, err = runArgs(t, "phone", "--dn", "bad dn")
	assert.Equal(t, 2, exitCode(err))
}

func TestScenarioRunDirectWithJUnit(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "out.xml")
	out, _, err := runArgs(t, "scenario", "run", "--junit", junit, "../../scenarios/phone-dtmf.yaml", "../../scenarios/lab-full-time.yaml")
	require.NoError(t, err, out)
	assert.Contains(t, out, "skipped")
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(b), "<testsuites")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nsteps:\n  - hangp: {party: a}\n"), 0o644))
	_, _, err = runArgs(t, "scenario", "validate", bad)
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, err.Error(), "bad.yaml:3")
}
