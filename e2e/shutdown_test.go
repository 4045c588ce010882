package e2e

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestWatchdogStopsOnSIGTERM: a watchdog asked to stop exits by itself,
// with status 0, promptly, and frees its ports; the two others keep a leader.
func TestWatchdogStopsOnSIGTERM(t *testing.T) {
	sb := newSandbox(t, true, SandboxOptions{DownAfter: time.Second})
	ctx := t.Context()
	if _, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, startTimeout); err != nil {
		t.Fatal(err)
	}
	w := sb.Wardens[0]
	began := time.Now()
	if err := w.proc.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.proc.exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("watchdog %s still running 10s after SIGTERM:\n%s", w.ID, w.Tail(30))
	}
	if err := w.proc.exitErr(); err != nil {
		t.Fatalf("watchdog %s exited with %v:\n%s", w.ID, err, w.Tail(30))
	}
	t.Logf("watchdog %s stopped %v after SIGTERM", w.ID, time.Since(began).Round(time.Millisecond))
	cfg := sb.Configs[0]
	for _, addr := range []string{cfg.Raft.Bind, cfg.HTTP.Listen} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %s still taken after the watchdog exited: %v", addr, err)
		}
		l.Close()
	}
	if _, err := WaitForLeader(ctx, sb.LiveWardens(), startTimeout); err != nil {
		t.Fatal(err)
	}
}
