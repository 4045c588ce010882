package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ps, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if p < PortLow || p >= PortHigh || p+10000 >= 32768 {
			t.Errorf("port %d outside [%d, %d) or its bus port in the ephemeral range", p, PortLow, PortHigh)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

// TestHarness checks the harness itself on real redis-server processes,
// without warden: replication comes up, Pause, Resume, Kill and Restart do
// what they say, and Close leaves neither a process nor a file behind.
func TestHarness(t *testing.T) {
	ctx := t.Context()
	sb, err := NewSandbox(ctx, SandboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			sb.Close()
		}
	})
	if len(sb.Redis) != 3 || len(sb.Wardens) != 0 {
		t.Fatalf("sandbox has %d nodes and %d watchdogs, want 3 and 0", len(sb.Redis), len(sb.Wardens))
	}
	master, r1, r2 := sb.Redis[0], sb.Redis[1], sb.Redis[2]

	if ri, err := master.Role(ctx); err != nil || ri.Role != "master" {
		t.Fatalf("ROLE on the first node: %+v, %v; want master", ri, err)
	}
	for _, r := range []*Redis{r1, r2} {
		m, up, err := r.ReplicaOf(ctx)
		if err != nil || m != master.Addr || !up {
			t.Fatalf("replica %s: master %q link up %v err %v; want %s up", r.Addr, m, up, err, master.Addr)
		}
	}

	// A write acknowledged by both replicas (SET and WAIT on one connection).
	n, err := writeKeys(ctx, master, "h", 50, 2)
	if err != nil || n < 2 {
		t.Fatalf("write keys: WAIT acknowledged by %d replicas, err %v; want 2", n, err)
	}
	for _, r := range []*Redis{r1, r2} {
		if err := checkKeys(ctx, r, "h", 50); err != nil {
			t.Fatal(err)
		}
	}

	// Pause: the process is stopped and does not answer.
	if err := r1.Pause(); err != nil {
		t.Fatal(err)
	}
	// The signal is delivered asynchronously: poll for the stopped state.
	if err := WaitFor(ctx, 5*time.Second, "the paused node to be in state T", func() (bool, error) {
		st := ProcessState(r1.Pid())
		return st == "T", fmt.Errorf("state %q", st)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Role(ctx); err == nil {
		t.Errorf("paused %s answered ROLE", r1.Addr)
	}
	if err := r1.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := r1.WaitForReplica(ctx, master.Addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Kill: the process is gone and reaped.
	pid := r2.Pid()
	if err := r2.Kill(); err != nil {
		t.Fatal(err)
	}
	if r2.Running() {
		t.Errorf("killed %s still counts as running", r2.Addr)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("killed %s: /proc/%d still exists", r2.Addr, pid)
	}
	if err := r2.Pause(); err == nil {
		t.Errorf("Pause of a killed process did not fail")
	}

	// Restart: same port, new pid, starts empty and resyncs as a replica.
	if err := r2.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.Pid() == pid {
		t.Errorf("restarted %s kept pid %d", r2.Addr, pid)
	}
	if err := r2.WaitForReplica(ctx, master.Addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := checkKeys(ctx, r2, "h", 50); err != nil {
		t.Fatal(err)
	}

	// A restarted master comes back empty.
	if err := master.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := master.DBSize(ctx); err != nil || n != 0 {
		t.Errorf("restarted master holds %d keys (err %v), want 0", n, err)
	}

	// Close: no process, no directory.
	r1.Pause() // a paused process must be killed too
	pids := sb.Pids()
	if len(pids) != 3 {
		t.Errorf("sandbox reports %d pids, want 3", len(pids))
	}
	dir := sb.Dir
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			t.Errorf("after Close, /proc/%d still exists (state %q)", p, ProcessState(p))
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Close, %s still exists (%v)", dir, err)
	}
}

// TestSandboxConfigs checks that the generated watchdog configurations
// parse and describe one Raft group watching the sandbox's nodes, without
// starting any watchdog.
func TestSandboxConfigs(t *testing.T) {
	sb, err := NewSandbox(t.Context(), SandboxOptions{Password: "s3cret", Group: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.opts.Wardens = 3
	if err := sb.writeWardenConfigs(); err != nil {
		t.Fatal(err)
	}
	if len(sb.Configs) != 3 {
		t.Fatalf("%d configs, want 3", len(sb.Configs))
	}
	for i, c := range sb.Configs {
		if want := fmt.Sprintf("w%d", i+1); c.ID != want {
			t.Errorf("config %d has id %q, want %q", i, c.ID, want)
		}
		if len(c.Raft.Bootstrap) != 3 || len(c.Groups) != 1 || c.Groups[0].Name != "g1" || len(c.Groups[0].Nodes) != 3 {
			t.Errorf("config %s: bootstrap %v groups %+v", c.ID, c.Raft.Bootstrap, c.Groups)
		}
		if c.Groups[0].Nodes[0] != sb.Redis[0].Addr {
			t.Errorf("config %s lists %s first, want the master %s", c.ID, c.Groups[0].Nodes[0], sb.Redis[0].Addr)
		}
		if pw, err := c.Password(); err != nil || pw != "s3cret" {
			t.Errorf("config %s: password %q, %v", c.ID, pw, err)
		}
		if c.Detection.ProbeInterval.D() != 200*time.Millisecond || c.Detection.DownAfter.D() != time.Second {
			t.Errorf("config %s: detection %+v", c.ID, c.Detection)
		}
	}
	// The password reaches the nodes too.
	if _, err := Role(t.Context(), sb.Redis[0].Addr); err == nil {
		t.Errorf("ROLE without password succeeded on a protected node")
	}
	if _, err := sb.Redis[0].Role(t.Context()); err != nil {
		t.Errorf("ROLE with password: %v", err)
	}
}
