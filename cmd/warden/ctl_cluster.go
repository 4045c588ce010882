package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"warden/config"
	"warden/raftstore"
	"warden/watchdog"
)

// The Redis Cluster commands: `warden cluster status [NAME]`, `warden
// cluster failover NAME --shard MASTER` and `warden cluster fix NAME`; the
// topology operations (create, add-shard, remove-shard, rebalance,
// replicas, operations) are in ctl_ops.go.

func newClusterCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "show the watched Redis Clusters, fail a shard over, or change a cluster's shards, slots and replicas",
		Args:  cobra.NoArgs,
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(newClusterStatusCmd(&f), newClusterFailoverCmd(&f), newClusterFixCmd(&f),
		newClusterCreateCmd(&f), newAddShardCmd(&f), newRemoveShardCmd(&f), newRebalanceCmd(&f), newReplicasCmd(&f),
		operationsCmd(&f))
	return cmd
}

func newClusterStatusCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NAME]",
		Short: "list the Redis Clusters, or show one cluster's shards, nodes and problems",
		Long: `Without NAME, one line per cluster. With NAME, the cluster as the leader
sees it: each shard (its master's short node ID, slots, master, replicas and
health), each node, then open (migrating/importing) slots, slots no master
serves, masters without a working replica, nodes whose views disagree, and
the last failover warden forced.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				var cs watchdog.ClusterStatus
				return s.call(cmd.Context(), http.MethodGet, pathOf("/v1/clusters/", args[0]), nil, &cs, func(w io.Writer) error { return showCluster(w, cs) })
			}
			var ans struct {
				Clusters []watchdog.ClusterStatus `json:"clusters"`
			}
			return s.call(cmd.Context(), http.MethodGet, "/v1/clusters", nil, &ans, func(w io.Writer) error { return showClusters(w, ans.Clusters) })
		},
	}
}

// shortID is the start of a node ID, as redis-cli prints it.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func showClusters(w io.Writer, cs []watchdog.ClusterStatus) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no clusters")
		return err
	}
	t := newTable(w, "NAME", "STATE", "SHARDS", "MASTERS_UP", "NODES_UP", "EPOCH", "PROBLEMS")
	for _, c := range cs {
		if c.View == nil {
			t.row(c.Name, "unknown", len(c.Recorded), "", "", c.Epoch, "no fresh view")
			continue
		}
		v := c.View
		up := 0
		for _, n := range v.Nodes {
			if n.Health == watchdog.HealthUp {
				up++
			}
		}
		t.row(c.Name, v.ReachableState, len(v.Shards), fmt.Sprintf("%d/%d", v.MastersUp, v.MastersTotal),
			fmt.Sprintf("%d/%d", up, len(v.Nodes)), c.Epoch, strings.Join(clusterProblems(c), "; "))
	}
	return t.flush()
}

// clusterProblems summarises what is wrong with a cluster, one phrase each.
func clusterProblems(c watchdog.ClusterStatus) []string {
	var out []string
	if fo := c.Failover; fo != nil {
		out = append(out, fmt.Sprintf("%s failover %s running", fo.Mode, fo.ID))
	}
	v := c.View
	if v.Uncovered != "" {
		out = append(out, "uncovered slots "+v.Uncovered)
	}
	if n := len(v.OpenSlots); n > 0 {
		out = append(out, plural(n, "open slot", "open slots"))
	}
	if n := len(v.NoReplica); n > 0 {
		out = append(out, plural(n, "master without replica", "masters without replica"))
	}
	if n := len(v.Disagreements); n > 0 {
		out = append(out, plural(n, "disagreement", "disagreements"))
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func showCluster(w io.Writer, c watchdog.ClusterStatus) error {
	running := ""
	if fo := c.Failover; fo != nil {
		running = fmt.Sprintf("%s %s running: %s -> %s", fo.Mode, fo.ID, fo.From, fo.To)
	}
	state, reporters, timeout := "unknown: the leader has no fresh view (recorded shards below)", "", ""
	if v := c.View; v != nil {
		state = fmt.Sprintf("%s, %d of %d masters up", v.ReachableState, v.MastersUp, v.MastersTotal)
		reporters = strings.Join(v.Reporters, ", ")
		if v.NodeTimeoutMs > 0 {
			timeout = (time.Duration(v.NodeTimeoutMs) * time.Millisecond).String()
		}
	}
	err := fields(w,
		"cluster", fmt.Sprintf("%s (epoch %d)", c.Name, c.Epoch),
		"state", state,
		"seeds", strings.Join(c.Seeds, ", "),
		"reporters", reporters,
		"node timeout", timeout,
		"failover", running,
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	if c.View == nil {
		if err := showRecordedShards(w, c.Recorded); err != nil {
			return err
		}
	} else if err := showClusterView(w, c.View); err != nil {
		return err
	}
	if c.LastFailover != nil {
		fmt.Fprintln(w)
		fmt.Fprint(w, "last ")
		return showClusterFailover(w, c.LastFailover)
	}
	return nil
}

func showRecordedShards(w io.Writer, rs []raftstore.ShardRecord) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no shard recorded yet")
		return err
	}
	t := newTable(w, "SHARD", "SLOTS", "MASTER", "REPLICAS", "HEALTH")
	for _, r := range rs {
		var reps []string
		for _, x := range r.Replicas {
			_, addr, _ := strings.Cut(x, "@")
			reps = append(reps, addr)
		}
		t.row(shortID(r.MasterID), r.Slots, r.MasterAddr, strings.Join(reps, ","), "unknown")
	}
	return t.flush()
}

func showClusterView(w io.Writer, v *watchdog.ClusterView) error {
	addrOf := map[string]string{}
	for _, n := range v.Nodes {
		addrOf[n.ID] = n.Addr
	}
	t := newTable(w, "SHARD", "SLOTS", "MASTER", "REPLICAS", "HEALTH")
	for _, s := range v.Shards {
		reps := "none"
		if len(s.Replicas) > 0 {
			reps = fmt.Sprintf("%s (%d/%d up)", strings.Join(s.Replicas, ","), s.UpReplicas, len(s.Replicas))
		}
		t.row(shortID(s.MasterID), fmt.Sprintf("%s (%d)", s.Slots, s.SlotCount), s.MasterAddr, reps, s.Health)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "NODE", "ADDR", "ROLE", "FOLLOWS", "HEALTH", "VOTES_DOWN", "FLAGGED_FAIL", "OFFSET", "LATENCY", "CLUSTER_STATE")
	for _, n := range v.Nodes {
		follows := ""
		if n.MasterID != "" {
			follows = addrOf[n.MasterID]
			if follows == "" {
				follows = shortID(n.MasterID)
			}
		}
		offset, latency := fmt.Sprint(n.Offset), ms(n.LatencyMs)
		if n.Health != watchdog.HealthUp && n.Offset == 0 && n.LatencyMs == 0 {
			offset, latency = "", "" // never answered
		}
		t.row(shortID(n.ID), n.Addr, n.Role, follows, n.Health, n.VotesDown, n.FailFlags, offset, latency, n.State)
	}
	if err := t.flush(); err != nil {
		return err
	}
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, it := range items {
			fmt.Fprintf(w, "  %s\n", it)
		}
	}
	list("open slots (migrating/importing)", v.OpenSlots)
	if v.Uncovered != "" {
		list("slots served by no master", []string{v.Uncovered})
	}
	list("masters without a working replica", v.NoReplica)
	list("disagreements between the nodes' views", v.Disagreements)
	return nil
}

// showClusterFailover writes a cluster failover's summary line, who asked
// and why, and its steps with their durations.
func showClusterFailover(w io.Writer, fo *raftstore.ClusterFailover) error {
	outcome := "running"
	if fo.EndedAt != nil {
		took := fo.EndedAt.Sub(fo.BeganAt).Round(time.Millisecond)
		outcome = "ok in " + took.String()
		if !fo.OK {
			outcome = "FAILED after " + took.String() + ": " + fo.Error
		}
	}
	fmt.Fprintf(w, "%s failover %s: %s -> %s, %s\n", fo.Mode, fo.ID, fo.From, fo.To, outcome)
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

type clusterFailoverFlags struct {
	shard, to, mode string
}

// Cluster failover modes, as the API names them.
var clusterModes = []string{raftstore.ModeGraceful, raftstore.ModeForce, raftstore.ModeTakeover}

func newClusterFailoverCmd(api *apiFlags) *cobra.Command {
	var f clusterFailoverFlags
	cmd := &cobra.Command{
		Use:   "failover NAME --shard MASTER [--to REPLICA] [--mode graceful|force|takeover]",
		Short: "promote a replica of one shard of a Redis Cluster",
		Long: `failover asks the leader to run CLUSTER FAILOVER on a replica of the shard
whose master --shard names (node ID, the short ID status prints, or
host:port): the replica --to names, else the reachable replica with the
largest replication offset.

  graceful  (default) the master agrees and hands over: no acknowledged write
            is lost; needs the master up
  force     without the master, with the votes of a majority of masters
  takeover  without any vote: for a cluster that has lost most of its
            masters; may lose writes

It returns once the failover has begun; follow it with warden cluster status.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkClusterMode(f.mode); err != nil {
				return err
			}
			if f.shard == "" {
				return errors.New("--shard is required: the master's node ID or host:port")
			}
			shardKind, err := nodeRef(f.shard)
			if err != nil {
				return fmt.Errorf("--shard: %v", err)
			}
			toKind := refAddr
			if f.to != "" {
				if toKind, err = nodeRef(f.to); err != nil {
					return fmt.Errorf("--to: %v", err)
				}
			}
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			body := watchdog.ClusterFailoverRequest{Shard: f.shard, To: f.to, Mode: f.mode}
			if shardKind == refPrefix || toKind == refPrefix {
				if body, err = resolvePrefixes(cmd.Context(), s, name, body, shardKind == refPrefix, toKind == refPrefix); err != nil {
					return err
				}
			}
			var ans struct {
				Cluster string `json:"cluster"`
				Mode    string `json:"mode"`
				From    string `json:"from"`
				To      string `json:"to"`
			}
			return s.call(cmd.Context(), http.MethodPost, pathOf("/v1/clusters/", name, "/failover"), body, &ans, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s failover of %s's shard begun: %s -> %s\nfollow it with: warden cluster status %s\n",
					ans.Mode, name, ans.From, ans.To, name)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&f.shard, "shard", "", "the shard's master: node ID (or its start) or host:port")
	cmd.Flags().StringVar(&f.to, "to", "", "the replica to promote: node ID (or its start) or host:port (default: the best reachable)")
	cmd.Flags().StringVar(&f.mode, "mode", raftstore.ModeGraceful, "graceful, force or takeover")
	return cmd
}

func checkClusterMode(m string) error {
	for _, ok := range clusterModes {
		if m == ok {
			return nil
		}
	}
	return fmt.Errorf("--mode %q: want %s", m, strings.Join(clusterModes, ", "))
}

// nodeRefKind says how a node was named on the command line.
type nodeRefKind int

const (
	refAddr   nodeRefKind = iota // host:port
	refID                        // a whole 40-character node ID
	refPrefix                    // the start of a node ID
)

// nodeIDLen is the length of a Redis Cluster node ID.
const nodeIDLen = 40

// minPrefix is the shortest node ID start accepted.
const minPrefix = 4

// nodeRef tells a host:port from a node ID or the start of one.
func nodeRef(s string) (nodeRefKind, error) {
	if strings.Contains(s, ":") {
		if err := config.ValidateAddr(s); err != nil {
			return 0, err
		}
		return refAddr, nil
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return 0, fmt.Errorf("%q is neither host:port nor a node ID (lowercase hexadecimal)", s)
		}
	}
	switch {
	case len(s) == nodeIDLen:
		return refID, nil
	case len(s) > nodeIDLen:
		return 0, fmt.Errorf("%q is longer than a node ID (%d characters)", s, nodeIDLen)
	case len(s) < minPrefix:
		return 0, fmt.Errorf("%q: give at least %d characters of the node ID", s, minPrefix)
	}
	return refPrefix, nil
}

// resolvePrefixes turns node ID starts into whole IDs with the cluster's
// current view: a shard's master for the shard, a node for the target.
func resolvePrefixes(ctx context.Context, s *session, name string, body watchdog.ClusterFailoverRequest, shard, to bool) (watchdog.ClusterFailoverRequest, error) {
	v, err := clusterView(ctx, s, name)
	if err != nil {
		return body, err
	}
	if shard {
		if body.Shard, err = pickID("--shard", body.Shard, name, masterIDs(v)); err != nil {
			return body, err
		}
	}
	if to {
		var ids []string
		for _, n := range v.Nodes {
			ids = append(ids, n.ID)
		}
		if body.To, err = pickID("--to", body.To, name, ids); err != nil {
			return body, err
		}
	}
	return body, nil
}

// clusterView is the leader's current view of the cluster, for finding
// node IDs in.
func clusterView(ctx context.Context, s *session, name string) (*watchdog.ClusterView, error) {
	var cs watchdog.ClusterStatus
	if _, err := s.fetch(ctx, http.MethodGet, pathOf("/v1/clusters/", name), nil, &cs); err != nil {
		return nil, err
	}
	if cs.View == nil {
		return nil, fmt.Errorf("cluster %s: the leader has no fresh view to find node IDs in; give the whole ID or host:port", name)
	}
	return cs.View, nil
}

// masterIDs lists the IDs of the view's shard masters.
func masterIDs(v *watchdog.ClusterView) []string {
	var ids []string
	for _, sh := range v.Shards {
		ids = append(ids, sh.MasterID)
	}
	return ids
}

// pickID returns the one ID among ids that starts with prefix; what names
// the argument that gave it.
func pickID(what, prefix, cluster string, ids []string) (string, error) {
	var found []string
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s %s: no such node ID in cluster %s", what, prefix, cluster)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s %s: several node IDs start so (%s); give more of it", what, prefix, strings.Join(found, ", "))
}

func newClusterFixCmd(api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "fix NAME",
		Short: "close a Redis Cluster's open slots and cover its uncovered ones (never done automatically)",
		Long: `fix asks the leader to finish or clear every slot left MIGRATING/IMPORTING
(moving the keys left behind) and to give every uncovered slot to the master
that holds its keys, or to the master with the fewest slots when none does.
Slots whose keys sit on several masters are left alone and named. What was
done is recorded in the audit log (warden history --group NAME).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			var rep watchdog.FixReport
			return s.call(cmd.Context(), http.MethodPost, pathOf("/v1/clusters/", args[0], "/fix"), nil, &rep, func(w io.Writer) error {
				fmt.Fprintf(w, "cluster %s: %d open slots closed, %d slot ranges covered, %d keys moved\n", rep.Cluster, len(rep.Closed), len(rep.Covered), rep.MovedKeys)
				for _, c := range rep.Closed {
					fmt.Fprintln(w, "  closed  ", c)
				}
				for _, c := range rep.Covered {
					fmt.Fprintln(w, "  covered ", c)
				}
				return nil
			})
		},
	}
}
