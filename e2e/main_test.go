package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wardenBin is the warden binary TestMain built, or "" when the build
// failed (buildErr says why); tests that need it call needWarden.
var (
	wardenBin string
	buildErr  error
)

// TestMain checks that redis-server is installed (a missing one fails the
// run: these tests are the proof that failover works) and builds warden
// once for every test. Set WARDEN_E2E_RACE=1 to build it with -race.
func TestMain(m *testing.M) {
	if _, err := RedisServerPath(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: e2e tests need redis-server:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "warden-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	wardenBin, buildErr = buildWarden(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildWarden(dir string) (string, error) {
	bin := filepath.Join(dir, "warden")
	args := []string{"build", "-o", bin}
	if os.Getenv("WARDEN_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "../cmd/warden")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return bin, nil
}

// needWarden fails the test when the warden binary could not be built.
func needWarden(t testing.TB) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("cannot build warden: %v", buildErr)
	}
	return wardenBin
}

// newSandbox starts a sandbox for t (3 Redis nodes; 3 watchdogs unless
// withWardens is false), stops it when t ends and, when t failed, logs the
// tail of every watchdog's and node's log first.
func newSandbox(t *testing.T, withWardens bool, opts SandboxOptions) *Sandbox {
	t.Helper()
	if withWardens {
		opts.WardenBinary = needWarden(t)
	}
	if os.Getenv("WARDEN_E2E_KEEP") == "1" {
		opts.KeepDir = true
	}
	sb, err := NewSandbox(t.Context(), opts)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() {
		for _, w := range sb.Wardens {
			if tail := raceReport(w.LogPath); tail != "" {
				t.Errorf("watchdog %s reported a data race (%s):\n%s", w.ID, w.LogPath, tail)
			}
		}
		if t.Failed() {
			t.Logf("sandbox %s\n%s", sb.Dir, sb.LogTails(60))
			t.Logf("\n%s", sb.RedisLogTails(15))
		}
		if err := sb.Close(); err != nil {
			t.Errorf("close sandbox: %v", err)
		}
		if opts.KeepDir {
			t.Logf("kept sandbox directory %s", sb.Dir)
		}
	})
	return sb
}

// raceReport returns the first race report in a log written by a binary
// built with -race, or "".
func raceReport(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.Index(s, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, "=================="); j > 0 {
		s = s[:j]
	}
	return s
}
