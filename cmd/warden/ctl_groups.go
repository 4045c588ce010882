package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"warden/config"
	"warden/raftstore"
	"warden/watchdog"
)

func newStatusCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "show a watchdog's Raft state, the leader and the members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var st watchdog.Status
			return s.call(cmd.Context(), http.MethodGet, "/v1/status", nil, &st, func(w io.Writer) error { return showStatus(w, st) })
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func showStatus(w io.Writer, st watchdog.Status) error {
	leader := "none known"
	if st.LeaderID != "" {
		leader = st.LeaderID + " at " + st.LeaderAddr
	}
	if err := fields(w, "member", st.ID+" ("+st.RaftState+")", "leader", leader, "groups", strconv.Itoa(st.Groups)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return showPeers(w, st.Peers, st.LeaderID)
}

func showPeers(w io.Writer, peers []raftstore.Peer, leaderID string) error {
	t := newTable(w, "ID", "ADDR", "SUFFRAGE", "LEADER")
	for _, p := range peers {
		mark := ""
		if p.ID == leaderID {
			mark = "*"
		}
		t.row(p.ID, p.Addr, p.Suffrage, mark)
	}
	return t.flush()
}

func newGroupsCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "groups [NAME]",
		Short: "list the Redis groups, or show one group's nodes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				var g watchdog.GroupStatus
				return s.call(cmd.Context(), http.MethodGet, pathOf("/v1/groups/", args[0]), nil, &g, func(w io.Writer) error { return showGroup(w, g) })
			}
			var gs struct {
				Groups []watchdog.GroupStatus `json:"groups"`
			}
			return s.call(cmd.Context(), http.MethodGet, "/v1/groups", nil, &gs, func(w io.Writer) error { return showGroups(w, gs.Groups) })
		},
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(newGroupsAddCmd(&f), newGroupsRemoveCmd(&f))
	return cmd
}

func newGroupsAddCmd(f *apiFlags) *cobra.Command {
	var nodes []string
	cmd := &cobra.Command{
		Use:   "add NAME --nodes HOST:PORT,HOST:PORT[,...]",
		Short: "watch a new Redis group (its master and replicas)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(nodes) < 2 {
				return fmt.Errorf("--nodes must list at least two nodes (a master and a replica), got %d", len(nodes))
			}
			for i, n := range nodes {
				if err := config.ValidateAddr(n); err != nil {
					return fmt.Errorf("--nodes[%d]: %v", i, err)
				}
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var g watchdog.GroupStatus
			body := watchdog.GroupRequest{Name: args[0], Nodes: nodes}
			return s.call(cmd.Context(), http.MethodPost, "/v1/groups", body, &g, func(w io.Writer) error {
				fmt.Fprintf(w, "added group %s\n\n", g.Name)
				return showGroup(w, g)
			})
		},
	}
	cmd.Flags().StringSliceVar(&nodes, "nodes", nil, "every node of the group, master and replicas, comma-separated")
	return cmd
}

func newGroupsRemoveCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "stop watching a Redis group (its nodes are left as they are)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			return s.call(cmd.Context(), http.MethodDelete, pathOf("/v1/groups/", args[0]), nil, nil, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "removed group %s\n", args[0])
				return err
			})
		},
	}
}

func showGroups(w io.Writer, gs []watchdog.GroupStatus) error {
	if len(gs) == 0 {
		_, err := fmt.Fprintln(w, "no groups")
		return err
	}
	t := newTable(w, "NAME", "MASTER", "EPOCH", "STATUS", "UP", "REASON")
	for _, g := range gs {
		up := 0
		for _, n := range g.Nodes {
			if n.Health == watchdog.HealthUp {
				up++
			}
		}
		t.row(g.Name, g.Master, g.Epoch, g.Status, fmt.Sprintf("%d/%d", up, len(g.Nodes)), g.Reason)
	}
	return t.flush()
}

func showGroup(w io.Writer, g watchdog.GroupStatus) error {
	running := ""
	if fo := g.Failover; fo != nil {
		running = fmt.Sprintf("%s %s running: %s -> %s (stage %s)", fo.Kind, fo.ID, fo.From, fo.To, fo.Stage)
	}
	blocked := ""
	if g.BlockedUntil != nil {
		blocked = when(*g.BlockedUntil) + " (warden ack " + g.Name + " clears it)"
	}
	err := fields(w,
		"group", g.Name,
		"master", fmt.Sprintf("%s (epoch %d)", orDash(g.Master), g.Epoch),
		"status", g.Status,
		"reason", g.Reason,
		"failover", running,
		"blocked until", blocked,
		"reporters", strings.Join(g.Reporters, ", "),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := newTable(w, "ADDR", "ROLE", "HEALTH", "VOTES_DOWN", "OFFSET", "LATENCY", "MAINTENANCE", "FOLLOWS")
	for _, n := range g.Nodes {
		maint := ""
		if n.Maintenance != nil {
			maint = "until " + when(*n.Maintenance)
		}
		follows := ""
		if n.MasterAddr != "" {
			follows = n.MasterAddr + " (link down)"
			if n.LinkUp {
				follows = n.MasterAddr + " (link up)"
			}
		}
		t.row(n.Addr, n.Role, n.Health, n.VotesDown, n.Offset, ms(n.LatencyMs), maint, follows)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if g.LastFailover != nil {
		fmt.Fprintln(w)
		fmt.Fprint(w, "last ")
		return showFailover(w, g.LastFailover)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// showFailover writes a failover's summary line, who asked and why, and
// its steps with their durations.
func showFailover(w io.Writer, fo *raftstore.Failover) error {
	outcome := "running (stage " + fo.Stage + ")"
	if fo.EndedAt != nil {
		took := fo.EndedAt.Sub(fo.BeganAt).Round(time.Millisecond)
		outcome = "ok in " + took.String()
		if !fo.OK {
			outcome = "FAILED after " + took.String() + ": " + fo.Error
		}
	}
	fmt.Fprintf(w, "%s %s (epoch %d): %s -> %s, %s\n", fo.Kind, fo.ID, fo.Epoch, fo.From, fo.To, outcome)
	err := fields(w,
		"began", when(fo.BeganAt),
		"requested by", fo.RequestedBy,
		"led by", fo.Leader,
		"reason", fo.Reason,
	)
	if err != nil || len(fo.Steps) == 0 {
		return err
	}
	fmt.Fprintln(w)
	t := newTable(w, "STEP", "NODE", "DURATION", "ERROR")
	for _, st := range fo.Steps {
		t.row(st.Name, st.Node, ms(st.DurationMs), st.Error)
	}
	return t.flush()
}

type failoverFlags struct {
	apiFlags
	to    string
	force bool
	wait  bool
}

// waitTimeout bounds `failover --wait` unless --timeout is given.
const waitTimeout = 5 * time.Minute

func newFailoverCmd() *cobra.Command {
	var f failoverFlags
	cmd := &cobra.Command{
		Use:   "failover GROUP [--to ADDR] [--force] [--wait]",
		Short: "promote a replica: a planned switchover (no write lost) when the master is healthy",
		Long: `failover asks the leader to promote a replica of GROUP: the best ranked one,
or the one --to names. With a healthy master it is a planned switchover:
writes pause on the master, the target catches up, then it is promoted, so no
acknowledged write is lost. With the master objectively down it is a
failover. --force fails over a master that is neither healthy nor down, or
promotes a --to target the ranking skipped.

Without --wait it returns once the failover has begun; with --wait it
returns when it has ended and exits non-zero when it failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.to != "" {
				if err := config.ValidateAddr(f.to); err != nil {
					return fmt.Errorf("--to: %v", err)
				}
			}
			path := pathOf("/v1/groups/", args[0], "/failover")
			if f.wait {
				path += "?wait=1"
				if !cmd.Flags().Changed("timeout") {
					f.timeout = waitTimeout
				}
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var fo raftstore.Failover
			stop := func() {}
			if f.wait {
				stop = startProgress(cmd.ErrOrStderr(), "failover of "+args[0])
			}
			raw, err := s.fetch(cmd.Context(), http.MethodPost, path, watchdog.FailoverRequest{To: f.to, Force: f.force}, &fo)
			stop()
			if err != nil {
				return err
			}
			err = s.print(raw, func(w io.Writer) error {
				if !f.wait {
					_, err := fmt.Fprintf(w, "%s %s begun (epoch %d): %s -> %s\nfollow it with: warden groups %s\n",
						fo.Kind, fo.ID, fo.Epoch, fo.From, fo.To, args[0])
					return err
				}
				return showFailover(w, &fo)
			})
			if err != nil {
				return err
			}
			if f.wait && !fo.OK {
				return fmt.Errorf("%s %s of %s failed: %s", fo.Kind, fo.ID, args[0], fo.Error)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.to, "to", "", "promote this replica (host:port) rather than the best ranked")
	cmd.Flags().BoolVar(&f.force, "force", false, "fail over even when the master is neither healthy nor objectively down")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the failover has ended (--timeout then defaults to "+waitTimeout.String()+")")
	return cmd
}

func newAckCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "ack GROUP",
		Short: "clear GROUP's anti-flapping window so that the next failure is failed over at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var g watchdog.GroupStatus
			return s.call(cmd.Context(), http.MethodPost, pathOf("/v1/groups/", args[0], "/ack"), nil, &g, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: anti-flapping window cleared (master %s, epoch %d)\n", g.Name, orDash(g.Master), g.Epoch)
				return err
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}
