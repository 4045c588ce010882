package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"warden/e2e"
)

// demoFollowEvery is how often the demo reads the group back.
const demoFollowEvery = 500 * time.Millisecond

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "run a local sandbox: one Redis master, two replicas and three watchdogs on loopback",
		Long: `warden demo starts, as its own child processes on 127.0.0.1, one Redis master,
two replicas and three watchdogs (this same binary running "serve"), prints
where everything is, then follows the group and prints every change, so you
can kill the master and watch the failover happen.

Ctrl-C stops every process it started and removes the data directory.
It needs redis-server (Debian: apt-get install redis-server).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "data directory (default: a new temporary directory)")
	cmd.Flags().StringVar(&o.group, "group", "demo", "name of the Redis group")
	cmd.Flags().BoolVar(&o.keep, "keep", false, "keep the data directory (logs, configs) after Ctrl-C")
	return cmd
}

type demoOptions struct {
	dir   string
	group string
	keep  bool
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if _, err := e2e.RedisServerPath(); err != nil {
		return fmt.Errorf("warden demo runs real Redis nodes: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to run the watchdogs: %w", err)
	}
	fmt.Fprintln(out, "warden demo: starting 3 Redis nodes and 3 watchdogs on 127.0.0.1 ...")
	sb, err := e2e.NewSandbox(ctx, e2e.SandboxOptions{
		Dir:          o.dir,
		KeepDir:      o.keep,
		Group:        o.group,
		WardenBinary: self,
		LogLevel:     "info",
	})
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted while starting; everything started was stopped")
		}
		return err
	}
	defer stopDemo(out, sb, o.keep)

	// Wait for the watchdogs to agree on the master before showing roles.
	agreed, err := e2e.WaitForAgreement(ctx, sb.Wardens, sb.Group, 30*time.Second)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	printDemoLayout(out, sb, agreed)
	followGroup(ctx, out, sb)
	return nil
}

func printDemoLayout(out io.Writer, sb *e2e.Sandbox, g e2e.Group) {
	master := g.Master
	if master == "" {
		master = sb.Redis[0].Addr
	}
	fmt.Fprintf(out, "\ndata directory: %s\n", sb.Dir)

	fmt.Fprintf(out, "\nRedis nodes of group %q:\n", sb.Group)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, r := range sb.Redis {
		role := "replica"
		if r.Addr == master {
			role = "master"
		}
		fmt.Fprintf(tw, "  %s\t%s\tpid %d\tlog %s\n", r.Addr, role, r.Pid(), r.LogPath)
	}
	tw.Flush()

	fmt.Fprintln(out, "\nwatchdogs:")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i, w := range sb.Wardens {
		fmt.Fprintf(tw, "  %s\thttp://%s\tpid %d\tconfig %s\tlog %s\n", w.ID, w.HTTPAddr, w.Pid(), sb.ConfigPaths[i], w.LogPath)
	}
	tw.Flush()

	var mpid, mport int
	if r := sb.Node(master); r != nil {
		mpid, mport = r.Pid(), r.Port
	}
	w := sb.Wardens[0]
	fmt.Fprintf(out, `
try:
  curl -s http://%s/v1/groups/%s      # the group as the watchdogs see it
  curl -s http://%s/v1/status             # the watchdog's Raft state
  redis-cli -p %d info replication          # look at the master
  kill -9 %d                                # kill the master: watch the failover below
  kill -9 %d                                # kill a watchdog: the others carry on
Ctrl-C stops everything this demo started.

`, w.HTTPAddr, sb.Group, w.HTTPAddr, mport, mpid, w.Pid())
}

// followGroup reads the group every demoFollowEvery from any live watchdog
// and prints a line for each change, until ctx ends.
func followGroup(ctx context.Context, out io.Writer, sb *e2e.Sandbox) {
	fmt.Fprintf(out, "following group %s (a line per change):\n", sb.Group)
	var prev *e2e.Group
	prevErr := ""
	running := map[string]bool{}
	for _, r := range sb.Redis {
		running["redis "+r.Addr] = true
	}
	for _, w := range sb.Wardens {
		running["watchdog "+w.ID] = true
	}
	t := time.NewTicker(demoFollowEvery)
	defer t.Stop()
	for {
		now := time.Now().Format("15:04:05.000")
		for _, r := range sb.Redis {
			noteExit(out, now, running, "redis "+r.Addr, r.Running())
		}
		for _, w := range sb.Wardens {
			noteExit(out, now, running, "watchdog "+w.ID, w.Running())
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		g, from, err := e2e.GroupFromAny(rctx, sb.LiveWardens(), sb.Group)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if msg := oneLine(err.Error()); msg != prevErr {
				fmt.Fprintf(out, "%s  no watchdog answers: %s\n", now, msg)
				prevErr = msg
			}
		} else {
			if prevErr != "" {
				fmt.Fprintf(out, "%s  watchdog %s answers again\n", now, from.ID)
				prevErr = ""
			}
			for _, line := range groupChanges(prev, g) {
				fmt.Fprintf(out, "%s  %s\n", now, line)
			}
			prev = &g
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func noteExit(out io.Writer, now string, running map[string]bool, name string, alive bool) {
	if running[name] && !alive {
		fmt.Fprintf(out, "%s  %s exited\n", now, name)
	}
	running[name] = alive
}

// groupChanges describes what differs between two reads of a group; with no
// previous read it describes the whole group.
func groupChanges(prev *e2e.Group, g e2e.Group) []string {
	var lines []string
	if prev == nil {
		lines = append(lines, fmt.Sprintf("master %s, epoch %d, status %s%s", g.Master, g.Epoch, g.Status, reason(g)))
		for _, n := range sortedNodes(g) {
			lines = append(lines, fmt.Sprintf("node %s: %s", n.Addr, nodeState(n)))
		}
		return lines
	}
	if g.Master != prev.Master {
		lines = append(lines, fmt.Sprintf("MASTER %s -> %s (epoch %d)", orNone(prev.Master), orNone(g.Master), g.Epoch))
	} else if g.Epoch != prev.Epoch {
		lines = append(lines, fmt.Sprintf("epoch %d -> %d", prev.Epoch, g.Epoch))
	}
	if g.Status != prev.Status {
		lines = append(lines, fmt.Sprintf("status %s -> %s%s", prev.Status, g.Status, reason(g)))
	} else if g.Reason != prev.Reason {
		lines = append(lines, fmt.Sprintf("status %s%s", g.Status, reason(g)))
	}
	for _, n := range sortedNodes(g) {
		p, ok := prev.Node(n.Addr)
		if !ok {
			lines = append(lines, fmt.Sprintf("node %s: %s (new)", n.Addr, nodeState(n)))
		} else if was, is := nodeState(p), nodeState(n); was != is {
			lines = append(lines, fmt.Sprintf("node %s: %s -> %s", n.Addr, was, is))
		}
	}
	if lf := g.LastFailover; lf != nil && (prev.LastFailover == nil || *lf != *prev.LastFailover) {
		lines = append(lines, describeFailover(*lf))
	}
	return lines
}

func describeFailover(f e2e.FailoverOutcome) string {
	took := ""
	b, err1 := time.Parse(time.RFC3339Nano, f.BeganAt)
	e, err2 := time.Parse(time.RFC3339Nano, f.EndedAt)
	if err1 == nil && err2 == nil && !e.Before(b) {
		took = fmt.Sprintf(" in %v", e.Sub(b).Round(time.Millisecond))
	}
	if f.EndedAt == "" {
		return fmt.Sprintf("failover epoch %d: %s -> %s under way", f.Epoch, f.From, f.To)
	}
	if f.OK {
		return fmt.Sprintf("failover epoch %d: %s -> %s done%s", f.Epoch, f.From, f.To, took)
	}
	return fmt.Sprintf("failover epoch %d: %s -> %s FAILED%s: %s", f.Epoch, f.From, f.To, took, f.Error)
}

func nodeState(n e2e.GroupNode) string {
	s := n.Role + ", " + n.Health
	if n.Health != "up" && n.VotesDown > 0 {
		s += fmt.Sprintf(" (%d down votes)", n.VotesDown)
	}
	if n.Role == "replica" && n.MasterAddr != "" {
		s += " of " + n.MasterAddr
	}
	return s
}

func sortedNodes(g e2e.Group) []e2e.GroupNode {
	ns := append([]e2e.GroupNode(nil), g.Nodes...)
	sort.Slice(ns, func(i, j int) bool { return ns[i].Addr < ns[j].Addr })
	return ns
}

func reason(g e2e.Group) string {
	if g.Reason == "" {
		return ""
	}
	return " (" + g.Reason + ")"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// stopDemo stops everything the sandbox started and says so, checking that
// no process it started is left.
func stopDemo(out io.Writer, sb *e2e.Sandbox, keep bool) {
	pids := sb.Pids()
	fmt.Fprintf(out, "\nstopping %d processes ...\n", len(pids))
	err := sb.Close()
	var left []string
	for _, p := range pids {
		if _, serr := os.Stat(filepath.Join("/proc", fmt.Sprint(p))); serr == nil {
			left = append(left, fmt.Sprint(p))
		}
	}
	switch {
	case len(left) > 0:
		fmt.Fprintf(out, "warning: processes still present: %s\n", strings.Join(left, " "))
	default:
		fmt.Fprintf(out, "stopped %d processes; none left behind\n", len(pids))
	}
	if err != nil {
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	if keep {
		fmt.Fprintf(out, "kept %s (logs and configs)\n", sb.Dir)
	} else if err == nil && sb.OwnsDir() {
		fmt.Fprintf(out, "removed %s\n", sb.Dir)
	} else if err == nil {
		fmt.Fprintf(out, "removed what the demo created in %s\n", sb.Dir)
	}
}
