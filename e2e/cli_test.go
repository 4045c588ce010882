package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"warden/config"
)

// The warden binary's commands, run as subprocesses: validate, serve with a
// bad configuration, and demo.

// cliTimeout bounds one run of `warden validate` or of `warden serve` that
// must refuse its configuration.
const cliTimeout = 30 * time.Second

// cliResult is how a warden command ended.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runWarden runs the warden binary with args and returns its output and
// exit status; it fails t when the command cannot run or outlives
// cliTimeout.
func runWarden(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, needWarden(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("warden %s still running after %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), cliTimeout, res.stdout, res.stderr)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("warden %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// cliConfig returns a valid configuration of watchdog w1 whose data
// directory is under dir (nothing is created), on ports that were free.
func cliConfig(t *testing.T, dir string) config.Config {
	t.Helper()
	ports, err := FreePorts(7)
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.ID = "w1"
	c.DataDir = filepath.Join(dir, "data-w1")
	c.Raft.Bind = Addr(ports[0])
	c.Raft.Bootstrap = []string{"w1=" + Addr(ports[0]), "w2=" + Addr(ports[1]), "w3=" + Addr(ports[2])}
	c.HTTP.Listen = Addr(ports[3])
	c.Groups = []config.GroupConfig{{Name: "g1", Nodes: []string{Addr(ports[4]), Addr(ports[5]), Addr(ports[6])}}}
	return c
}

// writeYAML marshals c, lets edit change the document as plain maps (to
// write what the Config type cannot hold: unknown keys, bad durations) and
// writes it to dir/name.
func writeYAML(t *testing.T, c config.Config, dir, name string, edit func(doc map[string]any)) string {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		if b, err = yaml.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// section returns the mapping under key in doc.
func section(doc map[string]any, key string) map[string]any {
	m, _ := doc[key].(map[string]any)
	if m == nil {
		m = map[string]any{}
		doc[key] = m
	}
	return m
}

// badConfigs are configurations warden must refuse, each with the text its
// error must hold: the key at fault.
var badConfigs = []struct {
	name string
	edit func(doc map[string]any)
	want []string
}{
	{"unknown top-level key", func(d map[string]any) { d["bogus"] = 1 }, []string{"bogus"}},
	{"unknown nested key", func(d map[string]any) { section(d, "detection")["down_aftr"] = "2s" }, []string{"detection.down_aftr"}},
	{"bad duration", func(d map[string]any) { section(d, "detection")["down_after"] = "soon" }, []string{"detection.down_after", "soon"}},
	{"down_after below 2 x probe_interval", func(d map[string]any) {
		section(d, "detection")["probe_interval"] = "200ms"
		section(d, "detection")["down_after"] = "300ms"
	}, []string{"detection.down_after", "detection.probe_interval"}},
	{"missing id", func(d map[string]any) { delete(d, "id") }, []string{"id is required"}},
	{"two problems", func(d map[string]any) {
		delete(d, "id")
		section(d, "detection")["down_after"] = "300ms"
	}, []string{"id is required", "detection.down_after"}},
}

// TestValidateCommand: `warden validate` accepts a good configuration
// (prints ok, exits 0) and refuses each bad one with a non-zero status and
// the key at fault on stderr.
func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeYAML(t, cliConfig(t, dir), dir, "good.yaml", nil)
	res := runWarden(t, "validate", "--config", good)
	if res.code != 0 || strings.TrimSpace(res.stdout) != good+": ok" || res.stderr != "" {
		t.Errorf("validate a good config: exit %d\nstdout: %q\nstderr: %q\nwant exit 0 and %q", res.code, res.stdout, res.stderr, good+": ok")
	}

	for i, bc := range badConfigs {
		t.Run(bc.name, func(t *testing.T) {
			p := writeYAML(t, cliConfig(t, dir), dir, fmt.Sprintf("bad-%d.yaml", i), bc.edit)
			res := runWarden(t, "validate", "--config", p)
			checkRefused(t, res, p, bc.want)
		})
	}

	t.Run("no --config", func(t *testing.T) {
		checkRefused(t, runWarden(t, "validate"), "", []string{"--config"})
	})
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "no-such.yaml")
		checkRefused(t, runWarden(t, "validate", "--config", p), "", []string{p})
	})
}

// TestServeRefusesBadConfig: `warden serve` with a bad configuration exits
// non-zero naming the key, and starts nothing: no data directory, and its
// ports stay free.
func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	for i, bc := range badConfigs {
		t.Run(bc.name, func(t *testing.T) {
			c := cliConfig(t, dir)
			c.DataDir = filepath.Join(dir, fmt.Sprintf("data-%d", i))
			p := writeYAML(t, c, dir, fmt.Sprintf("bad-%d.yaml", i), bc.edit)
			res := runWarden(t, "serve", "--config", p)
			checkRefused(t, res, p, bc.want)
			if _, err := os.Stat(c.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve refused its config but created the data directory %s (stat: %v)", c.DataDir, err)
			}
			if strings.Contains(res.stderr, "watchdog running") {
				t.Errorf("serve refused its config but says it runs:\n%s", res.stderr)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			t.Errorf("after the refused runs %s holds %s, which is not one of the test's configs", dir, e.Name())
		}
	}
}

// checkRefused fails t unless res is a refusal: non-zero status, nothing on
// stdout said ok, and stderr holds every string of want.
func checkRefused(t *testing.T, res cliResult, path string, want []string) {
	t.Helper()
	if res.code == 0 {
		t.Errorf("exit status 0, want non-zero\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, ": ok") {
		t.Errorf("stdout says ok: %q", res.stdout)
	}
	for _, w := range want {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr does not name %q:\n%s", w, res.stderr)
		}
	}
	if path != "" {
		if b, err := os.ReadFile(path); err == nil && t.Failed() {
			t.Logf("%s:\n%s", path, b)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// What `warden demo` prints about the processes it runs.
var (
	demoNodeRE     = regexp.MustCompile(`(?m)^\s+(127\.0\.0\.1:\d+)\s+(master|replica)\s+pid (\d+)\s`)
	demoWatchdogRE = regexp.MustCompile(`(?m)^\s+(w\d+)\s+http://\S+\s+pid (\d+)\s`)
	demoDirRE      = regexp.MustCompile(`(?m)^data directory: (.+)$`)
)

// demoProc is one process the demo says it runs.
type demoProc struct {
	name string // "redis ADDR" or "watchdog ID"
	role string // master, replica or watchdog
	addr string
	pid  int
}

// parseDemo reads the processes from the demo's layout, once it has printed
// all of them and started following the group.
func parseDemo(out string) ([]demoProc, error) {
	if !strings.Contains(out, "following group") {
		return nil, errors.New("the demo has not printed its layout yet")
	}
	var ps []demoProc
	for _, m := range demoNodeRE.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[3])
		ps = append(ps, demoProc{name: "redis " + m[1], role: m[2], addr: m[1], pid: pid})
	}
	for _, m := range demoWatchdogRE.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[2])
		ps = append(ps, demoProc{name: "watchdog " + m[1], role: "watchdog", pid: pid})
	}
	count := map[string]int{}
	for _, p := range ps {
		count[p.role]++
		if p.pid <= 0 {
			return nil, fmt.Errorf("%s has pid %d", p.name, p.pid)
		}
	}
	if count["master"] != 1 || count["replica"] != 2 || count["watchdog"] != 3 {
		return nil, fmt.Errorf("the layout lists %d master, %d replicas, %d watchdogs; want 1, 2, 3", count["master"], count["replica"], count["watchdog"])
	}
	return ps, nil
}

// TestDemo runs `warden demo --dir DIR` as a user would: waits for its
// layout, kills the master it names, waits for the line that announces the
// new master, then presses Ctrl-C (SIGINT). The demo must exit 0, leave no
// process it printed alive, and remove what it created in DIR while keeping
// what was there before.
func TestDemo(t *testing.T) {
	bin := needWarden(t)
	ctx := t.Context()
	dir := t.TempDir()
	foreign := filepath.Join(dir, "not-the-demos.txt")
	if err := os.WriteFile(foreign, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "demo", "--dir", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Killed with the test binary; its children die with it (Pdeathsig).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	var procs []demoProc
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			// Killing the demo kills its children (their Pdeathsig).
			_ = cmd.Process.Kill()
			<-done
			if err := waitGone(context.Background(), procs); err != nil {
				t.Errorf("after killing the demo: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", stdout.String(), stderr.String())
		}
	})
	exited := func() error {
		select {
		case <-done:
			return fmt.Errorf("the demo exited: %v", waitErr)
		default:
			return nil
		}
	}

	if err := WaitFor(ctx, 60*time.Second, "the demo to print its nodes and watchdogs", func() (bool, error) {
		if err := exited(); err != nil {
			return false, err
		}
		ps, err := parseDemo(stdout.String())
		procs = ps
		return err == nil, err
	}); err != nil {
		t.Fatal(err)
	}
	if m := demoDirRE.FindStringSubmatch(stdout.String()); m == nil || m[1] != dir {
		t.Errorf("the demo prints data directory %q, want %s", m, dir)
	}
	var master demoProc
	var replicas []string
	for _, p := range procs {
		switch p.role {
		case "master":
			master = p
		case "replica":
			replicas = append(replicas, p.addr)
		}
		// Make sure the pid is the program named before signalling it.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
		if err != nil {
			t.Fatalf("%s: the demo prints pid %d, which does not run: %v", p.name, p.pid, err)
		}
		prog := "warden"
		if p.role != "watchdog" {
			prog = "redis-server"
		}
		if !strings.Contains(string(cmdline), prog) {
			t.Fatalf("%s: pid %d runs %q, not %s", p.name, p.pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), prog)
		}
	}
	t.Logf("demo runs %d processes; master %s pid %d", len(procs), master.addr, master.pid)

	began := time.Now()
	if err := syscall.Kill(master.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", master.pid, err)
	}
	changeRE := regexp.MustCompile(`MASTER ` + regexp.QuoteMeta(master.addr) + ` -> (127\.0\.0\.1:\d+) \(epoch (\d+)\)`)
	var change []string
	if err := WaitFor(ctx, failoverTimeout, "the demo to print the master change", func() (bool, error) {
		if err := exited(); err != nil {
			return false, err
		}
		change = changeRE.FindStringSubmatch(stdout.String())
		return change != nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the demo printed %q after %v", change[0], time.Since(began).Round(time.Millisecond))
	if !slices.Contains(replicas, change[1]) {
		t.Errorf("new master %s is none of the replicas %v", change[1], replicas)
	}
	if !strings.Contains(stdout.String(), "redis "+master.addr+" exited") {
		t.Errorf("the demo did not print that redis %s exited", master.addr)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo still runs 30s after SIGINT")
	}
	if waitErr != nil {
		t.Errorf("after SIGINT the demo exited with %v, want status 0", waitErr)
	}
	out := stdout.String()
	for _, want := range []string{"none left behind", "removed what the demo created in " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's last words do not say %q", want)
		}
	}

	if err := waitGone(ctx, procs); err != nil {
		t.Error(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != filepath.Base(foreign) {
		t.Errorf("after the demo %s holds %v, want only %s (what was there before)", dir, names, filepath.Base(foreign))
	}
	if b, err := os.ReadFile(foreign); err != nil || string(b) != "kept\n" {
		t.Errorf("the file that was in %s before the demo: %q, %v", dir, b, err)
	}
}

// waitGone waits until no process of procs exists: kill(pid, 0) fails with
// ESRCH for each. The demo reaps its children before it exits; the short
// deadline only lets a reparented zombie be reaped, a leaked process stays.
func waitGone(ctx context.Context, procs []demoProc) error {
	return WaitFor(ctx, 5*time.Second, "every process the demo printed to be gone", func() (bool, error) {
		var alive []string
		for _, p := range procs {
			if err := syscall.Kill(p.pid, 0); !errors.Is(err, syscall.ESRCH) {
				alive = append(alive, fmt.Sprintf("%s pid %d (state %q)", p.name, p.pid, ProcessState(p.pid)))
			}
		}
		if len(alive) > 0 {
			return false, fmt.Errorf("still present: %s", strings.Join(alive, ", "))
		}
		return true, nil
	})
}
