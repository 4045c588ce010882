package main

// The Redis Cluster topology commands: `warden cluster create`,
// `add-shard`, `remove-shard`, `rebalance` and `replicas add|remove` each
// ask the leader to start an operation and print its id; `warden
// operations` lists, shows, waits for and cancels them. With --wait a
// command polls the operation until it ends, shows its progress on stderr
// and exits non-zero when it failed or was cancelled.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"warden/config"
	"warden/raftstore"
	"warden/watchdog"
)

const (
	// pollEvery is how often --wait asks for the operation's state.
	pollEvery = 500 * time.Millisecond
	// pollPatience is how long --wait keeps asking through failed
	// requests (an election, a restart) before it gives up.
	pollPatience = 30 * time.Second
)

// opFlags are the flags of the commands that start an operation on a
// cluster that exists.
type opFlags struct {
	force, wait bool
}

func (f *opFlags) register(cmd *cobra.Command, until string) {
	cmd.Flags().BoolVar(&f.force, "force", false, "start even when the cluster is unhealthy")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until "+until+", showing progress")
}

// needArgs checks the positional arguments against their names, so that a
// missing one is named; a last name ending in "..." takes one or more.
func needArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		for i, n := range names {
			if i >= len(args) {
				return fmt.Errorf("missing %s (usage: %s)", strings.TrimSuffix(n, "..."), cmd.UseLine())
			}
		}
		if last := names[len(names)-1]; !strings.HasSuffix(last, "...") && len(args) > len(names) {
			return fmt.Errorf("unexpected argument %q after %s (usage: %s)", args[len(names)], last, cmd.UseLine())
		}
		return nil
	}
}

// checkName checks a cluster name as the server will.
func checkName(what, name string) error {
	if !config.ValidName(name) {
		return fmt.Errorf("%s %q: a cluster name holds only letters, digits, _ . - (at most 64)", what, name)
	}
	return nil
}

// checkAddrs checks host:port addresses, each given once.
func checkAddrs(what string, addrs []string, seen map[string]bool) error {
	for _, a := range addrs {
		if err := config.ValidateAddr(a); err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		if seen[a] {
			return fmt.Errorf("%s %s: given twice", what, a)
		}
		seen[a] = true
	}
	return nil
}

// splitPair splits a KEY=VALUE flag value.
func splitPair(flag, v, want string) (string, string, error) {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || val == "" {
		return "", "", fmt.Errorf("%s %q: want %s", flag, v, want)
	}
	return k, val, nil
}

// slotRangesRE is the syntax of slot ranges: "0-5460,6000"; the server
// checks the numbers.
var slotRangesRE = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)

// masterRef is a master named on the command line: host:port, a node ID
// or the start of one.
type masterRef struct {
	what, ref string
	kind      nodeRefKind
}

func newMasterRef(what, ref string) (*masterRef, error) {
	kind, err := nodeRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	return &masterRef{what: what, ref: ref, kind: kind}, nil
}

// resolveMasters turns the node ID starts among refs into the whole IDs of
// the cluster's masters, with one look-up when there is any.
func resolveMasters(ctx context.Context, s *session, name string, refs ...*masterRef) error {
	var ids []string
	for _, r := range refs {
		if r.kind != refPrefix {
			continue
		}
		if ids == nil {
			v, err := clusterView(ctx, s, name)
			if err != nil {
				return err
			}
			ids = masterIDs(v)
		}
		id, err := pickID(r.what, r.ref, name, ids)
		if err != nil {
			return err
		}
		r.ref, r.kind = id, refID
	}
	return nil
}

// opsCommand is how the operator names the operations command: `warden
// operations` when the root has it, else `warden cluster operations`.
func opsCommand(cmd *cobra.Command) string {
	root := cmd.Root()
	for _, c := range root.Commands() {
		if c.Name() == "operations" {
			return c.CommandPath()
		}
	}
	return root.Name() + " cluster operations"
}

const waitHelp = `

Without --wait it prints the operation's id and how to follow it, and
returns. With --wait it shows the progress on stderr until the operation
ends, then the operation, and exits non-zero when it failed or was
cancelled.`

func newClusterCreateCmd(api *apiFlags) *cobra.Command {
	var masters, replicas, slots []string
	var wait bool
	cmd := &cobra.Command{
		Use:   "create NAME --master ADDR... [--replica MASTER=ADDR]... [--slots MASTER=RANGES]... [--wait]",
		Short: "make a new Redis Cluster of empty nodes: assign slots, meet, replicate, verify",
		Long: `create asks the leader to make the Redis Cluster NAME of empty nodes that run
with cluster-enabled yes: each --master gets its slots (an even split in the
order given, or the ranges --slots gives: then every master needs some and
all 16384 must be given), the nodes meet, each --replica follows its master,
and the result is verified. A cluster needs at least three masters.` + waitHelp,
		Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("NAME", name); err != nil {
				return err
			}
			if len(masters) == 0 {
				return errors.New("--master is required: the masters' host:port, one --master each")
			}
			body := watchdog.CreateClusterRequest{Name: name, Masters: masters}
			seen := map[string]bool{}
			if err := checkAddrs("--master", masters, seen); err != nil {
				return err
			}
			isMaster := func(flag, v, m string) error {
				if !contains(masters, m) {
					return fmt.Errorf("%s %q: %s is not one of the --master addresses", flag, v, m)
				}
				return nil
			}
			for _, v := range replicas {
				m, addr, err := splitPair("--replica", v, "MASTER=ADDR")
				if err != nil {
					return err
				}
				if err := isMaster("--replica", v, m); err != nil {
					return err
				}
				if err := checkAddrs("--replica", []string{addr}, seen); err != nil {
					return err
				}
				if body.Replicas == nil {
					body.Replicas = map[string][]string{}
				}
				body.Replicas[m] = append(body.Replicas[m], addr)
			}
			for _, v := range slots {
				m, ranges, err := splitPair("--slots", v, "MASTER=RANGES such as 10.0.0.1:7000=0-5460")
				if err != nil {
					return err
				}
				if err := isMaster("--slots", v, m); err != nil {
					return err
				}
				if !slotRangesRE.MatchString(ranges) {
					return fmt.Errorf("--slots %q: %q is not slot ranges such as 0-5460,6000", v, ranges)
				}
				if body.Slots == nil {
					body.Slots = map[string]string{}
				}
				if _, ok := body.Slots[m]; ok {
					return fmt.Errorf("--slots %q: %s is given slots twice; join the ranges with commas", v, m)
				}
				body.Slots[m] = ranges
			}
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			return startOp(cmd, s, wait, http.MethodPost, "/v1/clusters", body)
		},
	}
	cmd.Flags().StringArrayVar(&masters, "master", nil, "a master's `ADDR` (host:port); repeat for each")
	cmd.Flags().StringArrayVar(&replicas, "replica", nil, "make a node follow one of the masters, as `MASTER=ADDR`; repeat for each")
	cmd.Flags().StringArrayVar(&slots, "slots", nil, "give a master its slots, as `MASTER=RANGES` such as 10.0.0.1:7000=0-5460,6000 (default: an even split)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the cluster is made, showing progress")
	return cmd
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func newAddShardCmd(api *apiFlags) *cobra.Command {
	var master string
	var replicas []string
	var f opFlags
	cmd := &cobra.Command{
		Use:   "add-shard NAME --master ADDR [--replica ADDR]... [--force] [--wait]",
		Short: "add an empty master (and its replicas) to a Redis Cluster and move its share of the slots to it",
		Long: `add-shard asks the leader to bring the empty node --master (and each
--replica, which will follow it) into the cluster NAME, then move slots to
it from the other masters until every master holds an even share, then
verify. It refuses while the cluster is unhealthy unless --force.` + waitHelp,
		Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("NAME", name); err != nil {
				return err
			}
			if master == "" {
				return errors.New("--master is required: the new master's host:port")
			}
			seen := map[string]bool{}
			if err := checkAddrs("--master", []string{master}, seen); err != nil {
				return err
			}
			if err := checkAddrs("--replica", replicas, seen); err != nil {
				return err
			}
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			body := watchdog.AddShardRequest{Master: master, Replicas: append([]string{}, replicas...), Force: f.force}
			return startOp(cmd, s, f.wait, http.MethodPost, pathOf("/v1/clusters/", name, "/shards"), body)
		},
	}
	cmd.Flags().StringVar(&master, "master", "", "the new master's `ADDR` (host:port): an empty node in cluster mode")
	cmd.Flags().StringArrayVar(&replicas, "replica", nil, "an empty node to follow the new master, its `ADDR` (host:port); repeat for each")
	f.register(cmd, "the shard is added")
	return cmd
}

func newRemoveShardCmd(api *apiFlags) *cobra.Command {
	var f opFlags
	cmd := &cobra.Command{
		Use:   "remove-shard NAME MASTER [--force] [--wait]",
		Short: "move a master's slots to the other masters, then take it and its replicas out of the cluster",
		Long: `remove-shard asks the leader to move every slot of MASTER (its node ID, the
start of it, or host:port) to the other masters, then make every remaining
node forget it and its replicas, reset them, and verify after the 60 s ban
window that no node learned them again. It refuses while the cluster is
unhealthy unless --force.` + waitHelp,
		Args: needArgs("NAME", "MASTER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, master, err := shardSession(cmd, api, args)
			if err != nil {
				return err
			}
			path := pathOf("/v1/clusters/", args[0], "/shards/", master)
			if f.force {
				path += "?force=true"
			}
			return startOp(cmd, s, f.wait, http.MethodDelete, path, nil)
		},
	}
	f.register(cmd, "the shard is removed")
	return cmd
}

// shardSession checks NAME and MASTER, the first two arguments, then opens
// the session and turns MASTER into what the API takes.
func shardSession(cmd *cobra.Command, api *apiFlags, args []string) (*session, string, error) {
	if err := checkName("NAME", args[0]); err != nil {
		return nil, "", err
	}
	m, err := newMasterRef("MASTER", args[1])
	if err != nil {
		return nil, "", err
	}
	s, err := api.session(cmd)
	if err != nil {
		return nil, "", err
	}
	if err := resolveMasters(cmd.Context(), s, args[0], m); err != nil {
		return nil, "", err
	}
	return s, m.ref, nil
}

func newRebalanceCmd(api *apiFlags) *cobra.Command {
	var weights []string
	var threshold float64
	var dryRun bool
	var f opFlags
	cmd := &cobra.Command{
		Use:   "rebalance NAME [--weight MASTER=W]... [--threshold PCT] [--dry-run] [--force] [--wait]",
		Short: "move slots so that every master holds its share (by weight); --dry-run shows the plan only",
		Long: `rebalance asks the leader to move slots between the masters of NAME until
each holds its share of the 16384: an even share, or in proportion to the
--weight given (MASTER is a node ID, the start of one, or host:port; a
master not named weighs 1, weight 0 empties it). Nothing moves while every
master is within --threshold percent of its share.

--dry-run prints the moves and each master's current and target slot count
without moving anything. A cluster already balanced says so. It refuses
while the cluster is unhealthy unless --force.` + waitHelp,
		Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("NAME", name); err != nil {
				return err
			}
			if !(threshold >= 0 && threshold <= 100) {
				return fmt.Errorf("--threshold %v: must be from 0 to 100 (percent)", threshold)
			}
			if dryRun && f.wait {
				return errors.New("--wait does not go with --dry-run: a dry run starts nothing")
			}
			refs := make([]*masterRef, 0, len(weights))
			ws := make([]float64, 0, len(weights))
			for _, v := range weights {
				node, num, err := splitPair("--weight", v, "MASTER=W")
				if err != nil {
					return err
				}
				w, err := strconv.ParseFloat(num, 64)
				if err != nil || w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
					return fmt.Errorf("--weight %q: %q is not a number from 0 up", v, num)
				}
				r, err := newMasterRef("--weight", node)
				if err != nil {
					return err
				}
				refs, ws = append(refs, r), append(ws, w)
			}
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			if err := resolveMasters(cmd.Context(), s, name, refs...); err != nil {
				return err
			}
			body := watchdog.RebalanceRequest{ThresholdPct: &threshold, DryRun: dryRun, Force: f.force}
			for i, r := range refs {
				if body.Weights == nil {
					body.Weights = map[string]float64{}
				}
				if _, ok := body.Weights[r.ref]; ok {
					return fmt.Errorf("%s: %s is weighed twice", r.what, r.ref)
				}
				body.Weights[r.ref] = ws[i]
			}
			raw, err := s.fetch(cmd.Context(), http.MethodPost, pathOf("/v1/clusters/", name, "/rebalance"), body, nil)
			if err != nil {
				return err
			}
			var probe struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &probe); err != nil {
				return fmt.Errorf("rebalance: the answer is not the JSON expected: %w", err)
			}
			if probe.ID != "" {
				var op watchdog.OperationStatus
				if err := json.Unmarshal(raw, &op); err != nil {
					return fmt.Errorf("rebalance: the answer is not the operation expected: %w", err)
				}
				return followOp(cmd, s, raw, op, f.wait)
			}
			var p watchdog.RebalancePlan
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("rebalance: the answer is not the plan expected: %w", err)
			}
			return s.print(raw, func(w io.Writer) error { return showPlan(w, p, dryRun) })
		},
	}
	cmd.Flags().StringArrayVar(&weights, "weight", nil, "weigh a master, as `MASTER=W` (default 1; 0 empties it); repeat for each")
	cmd.Flags().Float64Var(&threshold, "threshold", 2, "move nothing while every master is within `PCT` percent of its share")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan; move nothing")
	f.register(cmd, "the slots are moved")
	return cmd
}

func newReplicasCmd(api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replicas",
		Short: "add replicas to a shard of a Redis Cluster, or remove some",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		replicasCmd(api, "add", http.MethodPost, "make empty nodes replicas of a shard's master",
			`add asks the leader to bring each empty node ADDR into the cluster NAME and
make it a replica of MASTER (its node ID, the start of it, or host:port).`),
		replicasCmd(api, "remove", http.MethodDelete, "take replicas of a shard out of the cluster",
			`remove asks the leader to make every other node forget the replicas ADDR of
MASTER (its node ID, the start of it, or host:port) and reset them.`),
	)
	return cmd
}

func replicasCmd(api *apiFlags, verb, method, short, long string) *cobra.Command {
	var f opFlags
	cmd := &cobra.Command{
		Use:   verb + " NAME MASTER ADDR... [--force] [--wait]",
		Short: short,
		Long:  long + " It refuses while the cluster is unhealthy unless --force." + waitHelp,
		Args:  needArgs("NAME", "MASTER", "ADDR..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			addrs := args[2:]
			if err := checkAddrs("ADDR", addrs, map[string]bool{}); err != nil {
				return err
			}
			s, master, err := shardSession(cmd, api, args)
			if err != nil {
				return err
			}
			path := pathOf("/v1/clusters/", args[0], "/shards/", master, "/replicas")
			return startOp(cmd, s, f.wait, method, path, watchdog.ReplicasRequest{Replicas: addrs, Force: f.force})
		},
	}
	f.register(cmd, "the operation has ended")
	return cmd
}

// newOperationsCmd is `warden operations`, with its own client flags.
func newOperationsCmd() *cobra.Command {
	var f apiFlags
	cmd := operationsCmd(&f)
	f.register(cmd.PersistentFlags())
	return cmd
}

// operationsCmd lists or shows operations; its subcommands wait for one
// and cancel one.
func operationsCmd(api *apiFlags) *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:   "operations [ID]",
		Short: "list the Redis Cluster topology operations, or show one: its plan, progress and errors",
		Long: `Without ID, one line per operation kept (the running ones and the last
finished), oldest first. With ID, the operation in detail: its state, each
step of its plan (done, running or pending), the slots, keys and bytes
moved, the rate, the time left, and the errors it survived.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && cluster != "" {
				return errors.New("--cluster goes with the list, not with ID")
			}
			if cluster != "" {
				if err := checkName("--cluster", cluster); err != nil {
					return err
				}
			}
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				var op watchdog.OperationStatus
				return s.call(cmd.Context(), http.MethodGet, pathOf("/v1/operations/", args[0]), nil, &op, func(w io.Writer) error { return showOperation(w, op) })
			}
			path := "/v1/operations"
			if cluster != "" {
				path += "?cluster=" + cluster
			}
			var ans struct {
				Operations []watchdog.OperationStatus `json:"operations"`
			}
			return s.call(cmd.Context(), http.MethodGet, path, nil, &ans, func(w io.Writer) error { return showOperations(w, ans.Operations) })
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "only the operations of the cluster `NAME`")
	cmd.AddCommand(newOpWaitCmd(api), newOpCancelCmd(api))
	return cmd
}

func newOpWaitCmd(api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "wait ID",
		Short: "wait until an operation has ended, showing its progress; non-zero exit when it failed or was cancelled",
		Args:  needArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			return awaitOp(cmd, s, args[0], opOutcome)
		},
	}
}

func newOpCancelCmd(api *apiFlags) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "cancel ID [--wait]",
		Short: "ask a running operation to stop at its next safe point",
		Long: `cancel asks the leader to stop the operation ID at its next safe point: a
slot being moved is finished first, so no key is left between two masters;
what was done stays done. With --wait it returns when the operation has
stopped and exits non-zero unless it ended cancelled.`,
		Args: needArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			s, err := api.session(cmd)
			if err != nil {
				return err
			}
			var op watchdog.OperationStatus
			raw, err := s.fetch(cmd.Context(), http.MethodPost, pathOf("/v1/operations/", id, "/cancel"), nil, &op)
			if err != nil {
				return err
			}
			if wait {
				return awaitOp(cmd, s, id, cancelOutcome)
			}
			return s.print(raw, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "cancel of %s %s on cluster %s requested: it stops at its next safe point\nwait for it with: %s wait %s\n",
					op.Kind, op.ID, op.Cluster, opsCommand(cmd), op.ID)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the operation has stopped")
	return cmd
}

// startOp sends the request that begins an operation, then follows it.
func startOp(cmd *cobra.Command, s *session, wait bool, method, path string, body any) error {
	var op watchdog.OperationStatus
	raw, err := s.fetch(cmd.Context(), method, path, body, &op)
	if err != nil {
		return err
	}
	return followOp(cmd, s, raw, op, wait)
}

// followOp prints a begun operation's id and how to follow it or, with
// wait, waits for its end.
func followOp(cmd *cobra.Command, s *session, raw json.RawMessage, op watchdog.OperationStatus, wait bool) error {
	if wait {
		return awaitOp(cmd, s, op.ID, opOutcome)
	}
	return s.print(raw, func(w io.Writer) error {
		ops := opsCommand(cmd)
		_, err := fmt.Fprintf(w, "%s %s begun on cluster %s: %s\nfollow it with:   %s %s\nwait for it with: %s wait %s\n",
			op.Kind, op.ID, op.Cluster, plural(len(op.Plan), "step", "steps"), ops, op.ID, ops, op.ID)
		return err
	})
}

// awaitOp polls the operation until it ends, prints it, and returns what
// outcome makes of its end.
func awaitOp(cmd *cobra.Command, s *session, id string, outcome func(watchdog.OperationStatus) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	prog := newOpProgress(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()))
	raw, op, err := pollOp(ctx, s, id, prog.update)
	prog.stop()
	if err != nil {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			return fmt.Errorf("interrupted: operation %s goes on; follow it with %s %s", id, opsCommand(cmd), id)
		}
		return err
	}
	if err := s.print(raw, func(w io.Writer) error { return showOperation(w, op) }); err != nil {
		return err
	}
	return outcome(op)
}

// pollOp asks for the operation every pollEvery until it has ended,
// passing each answer to seen. It keeps asking through failed requests
// (no answer, 5xx) for pollPatience; a refusal (4xx) ends it.
func pollOp(ctx context.Context, s *session, id string, seen func(watchdog.OperationStatus)) (json.RawMessage, watchdog.OperationStatus, error) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	path := pathOf("/v1/operations/", id)
	var failing time.Time
	for {
		var op watchdog.OperationStatus
		raw, err := s.fetch(ctx, http.MethodGet, path, nil, &op)
		var ae *apiError
		switch {
		case err == nil:
			failing = time.Time{}
			seen(op)
			if op.State != raftstore.OpRunning {
				return raw, op, nil
			}
		case ctx.Err() != nil:
		case errors.As(err, &ae) && ae.Status < 500:
			return nil, op, err
		case failing.IsZero():
			failing = time.Now()
		case time.Since(failing) > pollPatience:
			return nil, op, fmt.Errorf("no answer about operation %s for %v (it goes on): %w", id, pollPatience, err)
		}
		select {
		case <-ctx.Done():
			return nil, op, ctx.Err()
		case <-tick.C:
		}
	}
}

// opOutcome is nil for an operation that ended done.
func opOutcome(op watchdog.OperationStatus) error {
	switch op.State {
	case raftstore.OpDone:
		return nil
	case raftstore.OpCancelled:
		why := op.Error
		if why == "" {
			why = "as requested"
		}
		return fmt.Errorf("%s %s of cluster %s was cancelled at step %d of %d (%s): %s", op.Kind, op.ID, op.Cluster, op.StepNumber, op.Steps, op.Step, why)
	}
	return fmt.Errorf("%s %s of cluster %s failed at step %d of %d (%s): %s", op.Kind, op.ID, op.Cluster, op.StepNumber, op.Steps, op.Step, op.Error)
}

// cancelOutcome is nil for an operation that ended cancelled.
func cancelOutcome(op watchdog.OperationStatus) error {
	switch op.State {
	case raftstore.OpCancelled:
		return nil
	case raftstore.OpDone:
		return fmt.Errorf("%s %s of cluster %s ended done before the cancel took effect", op.Kind, op.ID, op.Cluster)
	}
	return opOutcome(op)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// opProgress shows a waited-for operation: on a terminal a spinner with
// the step, or during the migrate step a bar over the slots to move with
// the keys moved per second; elsewhere (a log, a pipe) a line each time
// the operation enters a step.
type opProgress struct {
	w      io.Writer
	tty    bool
	bar    *progressbar.ProgressBar
	counts bool   // bar counts slots
	last   string // line last written, without a terminal
}

func newOpProgress(w io.Writer, tty bool) *opProgress {
	return &opProgress{w: w, tty: tty}
}

func (p *opProgress) update(op watchdog.OperationStatus) {
	if !p.tty {
		if line := stepLine(op); line != p.last {
			fmt.Fprintln(p.w, line)
			p.last = line
		}
		return
	}
	if op.State != raftstore.OpRunning {
		return
	}
	counts := op.Step == raftstore.StepMigrate && op.SlotsTotal > 0
	if p.bar == nil || counts != p.counts {
		p.stop()
		p.counts = counts
		if counts {
			p.bar = progressbar.NewOptions(op.SlotsTotal,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(barText(op)),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(false),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionSetRenderBlankState(true),
			)
		} else {
			p.bar = progressbar.NewOptions(-1,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(barText(op)),
				progressbar.OptionSpinnerType(14),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionSetRenderBlankState(true),
			)
		}
	}
	p.bar.Describe(barText(op))
	if counts {
		_ = p.bar.Set(op.SlotsMoved)
	}
}

func (p *opProgress) stop() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// stepLine is a line saying where the operation is.
func stepLine(op watchdog.OperationStatus) string {
	if op.State != raftstore.OpRunning {
		return fmt.Sprintf("%s: %s", op.ID, op.State)
	}
	line := fmt.Sprintf("%s: step %d of %d, %s: %s", op.ID, op.StepNumber, op.Steps, op.Step, stepDetail(op))
	if op.CancelRequested {
		line += " (cancel requested)"
	}
	return line
}

// barText is the description beside the bar or spinner: short, so that the
// line does not wrap.
func barText(op watchdog.OperationStatus) string {
	if op.Step == raftstore.StepMigrate && op.SlotsTotal > 0 {
		s := fmt.Sprintf("%s migrate, %s keys/s", op.ID, strconv.FormatFloat(op.KeysPerSec, 'f', 0, 64))
		if op.ETASeconds != nil {
			s += ", " + eta(*op.ETASeconds) + " left"
		}
		return s
	}
	d := stepDetail(op)
	if r := []rune(d); len(r) > 50 {
		d = string(r[:49]) + "…"
	}
	return fmt.Sprintf("%s step %d/%d %s: %s", op.ID, op.StepNumber, op.Steps, op.Step, d)
}

func stepDetail(op watchdog.OperationStatus) string {
	if op.Cursor >= 0 && op.Cursor < len(op.Plan) {
		return op.Plan[op.Cursor].Detail
	}
	return ""
}

func eta(sec float64) string {
	return (time.Duration(sec * float64(time.Second))).Round(time.Second).String()
}

// took formats how long an operation ran: to the millisecond under a
// minute, to the second above.
func took(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// size formats a byte count in decimal units: 512 B, 6.0 MB.
func size(b float64) string {
	const units = "kMGTP"
	if b < 1000 {
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	i := -1
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	return strconv.FormatFloat(b, 'f', 1, 64) + " " + units[i:i+1] + "B"
}

func showOperations(w io.Writer, ops []watchdog.OperationStatus) error {
	if len(ops) == 0 {
		_, err := fmt.Fprintln(w, "no operations")
		return err
	}
	t := newTable(w, "ID", "CLUSTER", "KIND", "STATE", "STEP", "SLOTS_MOVED", "STARTED", "REQUESTED_BY", "ERROR")
	for _, op := range ops {
		state, step, slots := op.State, "", ""
		if op.State == raftstore.OpRunning && op.CancelRequested {
			state = "cancelling"
		}
		if op.State != raftstore.OpDone {
			step = fmt.Sprintf("%d/%d %s", op.StepNumber, op.Steps, op.Step)
		}
		if op.SlotsTotal > 0 {
			slots = fmt.Sprintf("%d/%d", op.SlotsMoved, op.SlotsTotal)
		}
		t.row(op.ID, op.Cluster, op.Kind, state, step, slots, when(op.StartedAt), op.RequestedBy, op.Error)
	}
	return t.flush()
}

// opState says where an operation is, or how it ended.
func opState(op watchdog.OperationStatus) string {
	at := fmt.Sprintf("step %d of %d (%s)", op.StepNumber, op.Steps, op.Step)
	var ran string
	if op.EndedAt != nil {
		ran = took(op.EndedAt.Sub(op.StartedAt))
	}
	switch op.State {
	case raftstore.OpRunning:
		if op.CancelRequested {
			return "running, " + at + ", cancel requested"
		}
		return "running, " + at
	case raftstore.OpDone:
		return "done in " + ran
	}
	return fmt.Sprintf("%s at %s after %s", op.State, at, ran)
}

func showOperation(w io.Writer, op watchdog.OperationStatus) error {
	var updated, ended, slots, keys, bytes, left string
	if op.State == raftstore.OpRunning {
		updated = when(op.UpdatedAt)
	}
	if op.EndedAt != nil {
		ended = when(*op.EndedAt)
	}
	if op.SlotsTotal > 0 {
		slots = fmt.Sprintf("%d of %d moved", op.SlotsMoved, op.SlotsTotal)
		keys = fmt.Sprintf("%d moved", op.KeysMoved)
		bytes = size(float64(op.BytesMoved)) + " moved"
		if op.MigrateSeconds > 0 {
			keys += fmt.Sprintf(", %s keys/s", strconv.FormatFloat(op.KeysPerSec, 'f', 0, 64))
			bytes += ", " + size(op.BytesPerSec) + "/s"
		}
	}
	if op.ETASeconds != nil && op.State == raftstore.OpRunning {
		left = eta(*op.ETASeconds)
	}
	err := fields(w,
		"operation", fmt.Sprintf("%s: %s of cluster %s", op.ID, op.Kind, op.Cluster),
		"state", opState(op),
		"requested by", op.RequestedBy,
		"led by", op.Leader,
		"started", when(op.StartedAt),
		"updated", updated,
		"ended", ended,
		"slots", slots,
		"keys", keys,
		"bytes", bytes,
		"time left", left,
		"error", op.Error,
	)
	if err != nil {
		return err
	}
	if len(op.Plan) > 0 {
		fmt.Fprintln(w)
		t := newTable(w, "#", "STEP", "STATUS", "DETAIL")
		for i, st := range op.Plan {
			t.row(i+1, st.Kind, stepStatus(op, i), st.Detail)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for i, st := range op.Plan {
		if len(st.Moves) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nmoves of step %d (%s):\n", i+1, st.Kind)
		if err := showMoves(w, st.Moves); err != nil {
			return err
		}
	}
	if len(op.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors survived (retried):")
		for _, e := range op.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	return nil
}

// stepStatus marks step i of the plan: done, running, pending, or where
// and how the operation ended.
func stepStatus(op watchdog.OperationStatus, i int) string {
	switch {
	case i < op.Cursor || op.State == raftstore.OpDone:
		return "done"
	case i > op.Cursor && op.State == raftstore.OpRunning:
		return "pending"
	case i > op.Cursor:
		return "not run"
	case op.State == raftstore.OpRunning:
		return "running"
	}
	return op.State
}

// nodeName is host:port with the start of the node ID.
func nodeName(id, addr string) string {
	if addr == "" {
		return shortID(id)
	}
	return fmt.Sprintf("%s (%s)", addr, shortID(id))
}

func showMoves(w io.Writer, moves []raftstore.OpMove) error {
	t := newTable(w, "FROM", "TO", "SLOTS", "COUNT")
	for _, m := range moves {
		t.row(nodeName(m.From, m.FromAddr), nodeName(m.To, m.ToAddr), m.Slots, m.Count)
	}
	return t.flush()
}

// showPlan writes a rebalance plan: the moves, then each master's slots
// now and once balanced.
func showPlan(w io.Writer, p watchdog.RebalancePlan, dryRun bool) error {
	pct := strconv.FormatFloat(p.ThresholdPc, 'g', -1, 64) + "%"
	if p.Balanced {
		fmt.Fprintf(w, "cluster %s is balanced: every master is within %s of its share; nothing to move\n\n", p.Cluster, pct)
	} else {
		fmt.Fprintf(w, "cluster %s: %s to move in %s (threshold %s)\n\n", p.Cluster,
			plural(p.SlotsToMove, "slot", "slots"), plural(len(p.Moves), "move", "moves"), pct)
		if err := showMoves(w, p.Moves); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	ids := map[string]bool{}
	for id := range p.Current {
		ids[id] = true
	}
	for id := range p.Targets {
		ids[id] = true
	}
	order := make([]string, 0, len(ids))
	for id := range ids {
		order = append(order, id)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if p.Addrs[a] != p.Addrs[b] {
			return p.Addrs[a] < p.Addrs[b]
		}
		return a < b
	})
	t := newTable(w, "MASTER", "ID", "WEIGHT", "CURRENT", "TARGET", "CHANGE")
	for _, id := range order {
		weight := 1.0
		if v, ok := p.Weights[id]; ok {
			weight = v
		}
		change := "0"
		if d := p.Targets[id] - p.Current[id]; d != 0 {
			change = fmt.Sprintf("%+d", d)
		}
		t.row(p.Addrs[id], shortID(id), strconv.FormatFloat(weight, 'g', -1, 64), p.Current[id], p.Targets[id], change)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(p.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems (a rebalance needs --force while they last):")
		for _, pr := range p.Problems {
			fmt.Fprintf(w, "  %s\n", pr)
		}
	}
	if dryRun && !p.Balanced {
		_, err := fmt.Fprintln(w, "\ndry run: nothing was moved")
		return err
	}
	return nil
}
