package wav

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const helperEnv = "ARLAB_WAV_KILL_HELPER"

// Frames the helper flushes before it is killed, and how many it writes after.
const (
	helperFlushed = 3000
	helperExtra   = bufSize/4 + 100 // one buffer spills, 100 frames stay staged
)

// runHelper is the child side of TestSIGKILLThenRepair: it writes, flushes,
// writes more without flushing, reports, and waits to be killed.
func runHelper() {
	path := os.Getenv(helperEnv)
	w, err := Create(path, Header{Format: PCM16, Channels: 2})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	pcm := tone(helperFlushed+helperExtra, 2, 0)
	if err := w.WriteFrames(pcm[:2*helperFlushed]); err != nil {
		os.Exit(2)
	}
	if err := w.Flush(); err != nil {
		os.Exit(2)
	}
	if err := w.WriteFrames(pcm[2*helperFlushed:]); err != nil {
		os.Exit(2)
	}
	fmt.Println("ready")
	// Block until killed; the parent gives up after its own deadline.
	time.Sleep(time.Minute)
	os.Exit(3)
}

// TestSIGKILLThenRepair kills a real writer process with SIGKILL and checks
// the file it leaves is readable, and after Repair holds every flushed frame
// plus what had already reached the kernel.
func TestSIGKILLThenRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "killed.wav")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready", strings.TrimSpace(line))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	require.Error(t, err, "child must die by signal")

	got, err := ReadFile(path)
	require.NoError(t, err, "file readable straight after the kill")
	assert.Equal(t, int64(helperFlushed), got.Frames)

	frames, err := Repair(path)
	require.NoError(t, err)
	assert.Equal(t, int64(helperFlushed+bufSize/4), frames)
	got, err = ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, frames, got.Frames)
	assert.Equal(t, expected(PCM16, tone(int(frames), 2, 0), 2), got.Samples)
}
