package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoTour runs `arlab demo` as a user would: it starts its own lab (on
// free ports here), tours every recording flow, verifies each recording and
// prints the summary table; any failing flow fails the command.
func TestDemoTour(t *testing.T) {
	dir := t.TempDir()
	cfg := labConfig(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, arlabBin, "-c", cfg, "demo")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `\n12 passed, 0 failed\n`, string(out))
	_, err = os.Stat(filepath.Join(dir, "data", "lab.json"))
	assert.True(t, os.IsNotExist(err), "the demo's lab must be stopped and its state file removed")
}
