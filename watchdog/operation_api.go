package watchdog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"warden/cluster"
	"warden/config"
	"warden/raftstore"
)

// CreateClusterRequest is the body of POST /v1/clusters.
type CreateClusterRequest struct {
	Name    string   `json:"name"`
	Masters []string `json:"masters"`
	// Replicas maps a master's address to the addresses that follow it.
	Replicas map[string][]string `json:"replicas"`
	// Slots optionally maps every master to its slot ranges
	// ("0-5460,6000"); the default is an even split in the order given.
	Slots map[string]string `json:"slots"`
}

// AddShardRequest is the body of POST /v1/clusters/{name}/shards.
type AddShardRequest struct {
	Master   string   `json:"master"`
	Replicas []string `json:"replicas"`
	// Force starts even when the cluster is unhealthy.
	Force bool `json:"force"`
}

// RebalanceRequest is the body of POST /v1/clusters/{name}/rebalance.
type RebalanceRequest struct {
	// Weights maps a master (id or address) to its weight: missing 1, 0
	// empties it.
	Weights map[string]float64 `json:"weights"`
	// ThresholdPct: nothing moves while every master is within this many
	// percent of its share (default 2).
	ThresholdPct *float64 `json:"threshold_pct"`
	DryRun       bool     `json:"dry_run"`
	Force        bool     `json:"force"`
}

// ReplicasRequest is the body of POST and DELETE
// /v1/clusters/{name}/shards/{master}/replicas.
type ReplicasRequest struct {
	Replicas []string `json:"replicas"`
	Force    bool     `json:"force"`
}

// RebalancePlan is the answer of a dry run (or of a rebalance with nothing
// to do).
type RebalancePlan struct {
	Cluster     string             `json:"cluster"`
	Balanced    bool               `json:"balanced"`
	SlotsToMove int                `json:"slots_to_move"`
	Moves       []raftstore.OpMove `json:"moves"`
	Targets     map[string]int     `json:"targets"`
	Current     map[string]int     `json:"current"`
	Weights     map[string]float64 `json:"weights,omitempty"`
	Problems    []string           `json:"problems,omitempty"`
	Addrs       map[string]string  `json:"addrs"`
	ThresholdPc float64            `json:"threshold_pct"`
}

// OperationStatus is an operation with what the API derives from it.
type OperationStatus struct {
	raftstore.Operation
	Step        string   `json:"step"`
	StepNumber  int      `json:"step_number"`
	Steps       int      `json:"steps"`
	KeysPerSec  float64  `json:"keys_per_sec"`
	BytesPerSec float64  `json:"bytes_per_sec"`
	ETASeconds  *float64 `json:"eta_seconds,omitempty"`
}

func operationStatus(o raftstore.Operation) OperationStatus {
	st := OperationStatus{Operation: o, Step: o.Step(), StepNumber: o.Cursor + 1, Steps: len(o.Plan)}
	if st.StepNumber > st.Steps {
		st.StepNumber = st.Steps
	}
	if o.MigrateSeconds > 0 {
		st.KeysPerSec = math.Round(float64(o.KeysMoved) / o.MigrateSeconds)
		st.BytesPerSec = math.Round(float64(o.BytesMoved) / o.MigrateSeconds)
		if o.State == raftstore.OpRunning && o.SlotsMoved > 0 && o.SlotsTotal > o.SlotsMoved {
			eta := math.Round(o.MigrateSeconds/float64(o.SlotsMoved)*float64(o.SlotsTotal-o.SlotsMoved)*10) / 10
			st.ETASeconds = &eta
		}
	}
	return st
}

func (s *Service) getOperations(r *http.Request) (any, error) {
	cl := r.URL.Query().Get("cluster")
	out := []OperationStatus{}
	for _, o := range s.fsm.Operations() {
		if cl == "" || o.Cluster == cl {
			out = append(out, operationStatus(o))
		}
	}
	return map[string]any{"operations": out}, nil
}

func (s *Service) getOperation(r *http.Request) (any, error) {
	o, ok := s.fsm.Operation(r.PathValue("id"))
	if !ok {
		return nil, fmt.Errorf("%w: operation %q", ErrNotFound, r.PathValue("id"))
	}
	return operationStatus(o), nil
}

func (s *Service) postOperationCancel(r *http.Request) (any, error) {
	id := r.PathValue("id")
	o, ok := s.fsm.Operation(id)
	if !ok {
		return nil, fmt.Errorf("%w: operation %q", ErrNotFound, id)
	}
	if o.State != raftstore.OpRunning {
		return nil, fmt.Errorf("%w: operation %s is already %s", ErrConflict, id, o.State)
	}
	if err := s.node.Apply(r.Context(), &raftstore.OpCancel{ID: id, By: caller(r), At: time.Now()}); err != nil {
		if errors.Is(err, raftstore.ErrInvalid) {
			// It ended between the check above and the command.
			return nil, fmt.Errorf("%w: %v", ErrConflict, err)
		}
		return nil, err
	}
	o, _ = s.fsm.Operation(id)
	return result{status: http.StatusAccepted, body: operationStatus(o)}, nil
}

// checkAddrs validates a list of node addresses from a request.
func checkAddrs(field string, addrs []string, seen map[string]string) error {
	for i, a := range addrs {
		if err := config.ValidateAddr(a); err != nil {
			return fmt.Errorf("%w: %s[%d]: %v", ErrBadRequest, field, i, err)
		}
		if prev, ok := seen[a]; ok {
			return fmt.Errorf("%w: %s[%d]: %s is already listed in %s", ErrBadRequest, field, i, a, prev)
		}
		seen[a] = fmt.Sprintf("%s[%d]", field, i)
	}
	return nil
}

// Validate names what is wrong with the request (without asking Redis).
func (q CreateClusterRequest) Validate() error {
	if !config.ValidName(q.Name) {
		return fmt.Errorf("%w: name %q may hold only letters, digits, _ . - (at most 64)", ErrBadRequest, q.Name)
	}
	if len(q.Masters) < 3 {
		return fmt.Errorf("%w: masters lists %d nodes; a Redis Cluster needs at least 3 masters to elect a failover", ErrBadRequest, len(q.Masters))
	}
	seen := map[string]string{}
	if err := checkAddrs("masters", q.Masters, seen); err != nil {
		return err
	}
	for _, m := range sortedKeys(q.Replicas) {
		if _, ok := seen[m]; !ok || !strings.HasPrefix(seen[m], "masters[") {
			return fmt.Errorf("%w: replicas: %q is not one of masters", ErrBadRequest, m)
		}
		if err := checkAddrs("replicas["+m+"]", q.Replicas[m], seen); err != nil {
			return err
		}
	}
	if len(q.Slots) > 0 {
		if _, err := slotsByMaster(q.Masters, q.Slots); err != nil {
			return err
		}
	}
	return nil
}

// slotsByMaster checks an explicit slot map: every master named, no slot
// twice, all 16384 covered.
func slotsByMaster(masters []string, slots map[string]string) (map[string][]cluster.SlotRange, error) {
	out := map[string][]cluster.SlotRange{}
	isMaster := map[string]bool{}
	for _, m := range masters {
		isMaster[m] = true
	}
	var owner [cluster.SlotCount]string
	for _, m := range sortedKeys(slots) {
		if !isMaster[m] {
			return nil, fmt.Errorf("%w: slots: %q is not one of masters", ErrBadRequest, m)
		}
		rs, err := cluster.ParseSlots(slots[m])
		if err != nil {
			return nil, fmt.Errorf("%w: slots[%s]: %v", ErrBadRequest, m, err)
		}
		for _, r := range rs {
			for sl := r.Start; sl <= r.End; sl++ {
				if owner[sl] != "" {
					return nil, fmt.Errorf("%w: slots: slot %d is given to both %s and %s", ErrBadRequest, sl, owner[sl], m)
				}
				owner[sl] = m
			}
		}
		out[m] = cluster.MergeSlots(rs)
	}
	for _, m := range masters {
		if len(out[m]) == 0 {
			return nil, fmt.Errorf("%w: slots: master %s is given no slot", ErrBadRequest, m)
		}
	}
	for sl := range owner {
		if owner[sl] == "" {
			return nil, fmt.Errorf("%w: slots: slot %d is given to no master (all 16384 must be)", ErrBadRequest, sl)
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkNewNode asks a node that is to join a cluster whether it can: it
// answers, runs in cluster mode, knows no other node, serves no slot and
// holds no key. It returns the node's id.
func (s *Service) checkNewNode(ctx context.Context, addr string) (string, error) {
	for a, name := range s.clusterTargets() {
		if a == addr {
			return "", fmt.Errorf("%w: %s is already a node of cluster %s", ErrConflict, addr, name)
		}
	}
	if owner := s.fsm.NodeOwner(addr); owner != "" {
		return "", fmt.Errorf("%w: %s is a node of group %s", ErrConflict, addr, owner)
	}
	for _, o := range s.fsm.Operations() {
		for _, n := range o.Nodes {
			if o.State == raftstore.OpRunning && n.Addr == addr {
				return "", fmt.Errorf("%w: %s is a node of operation %s (%s on cluster %s), still running", ErrConflict, addr, o.ID, o.Kind, o.Cluster)
			}
		}
	}
	text, err := s.act.ClusterNodes(ctx, addr)
	if err != nil {
		if strings.Contains(err.Error(), "cluster support disabled") {
			return "", fmt.Errorf("%w: %s does not run in cluster mode (cluster-enabled no)", ErrBadRequest, addr)
		}
		return "", fmt.Errorf("%w: %s does not answer: %v", ErrBadRequest, addr, err)
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		return "", fmt.Errorf("%w: CLUSTER NODES of %s: %v", ErrBadRequest, addr, err)
	}
	var id string
	for _, n := range nodes {
		if n.Flags.Myself {
			id = n.ID
			if len(n.Slots) > 0 {
				return "", fmt.Errorf("%w: %s already serves slots %s", ErrConflict, addr, cluster.FormatSlots(n.Slots))
			}
			if n.Flags.Replica {
				return "", fmt.Errorf("%w: %s is a replica of %s", ErrConflict, addr, n.MasterID)
			}
		}
	}
	if len(nodes) > 1 {
		return "", fmt.Errorf("%w: %s already knows %d other nodes (part of another cluster? CLUSTER RESET it first)", ErrConflict, addr, len(nodes)-1)
	}
	if id == "" {
		return "", fmt.Errorf("%w: CLUSTER NODES of %s has no myself line", ErrBadRequest, addr)
	}
	v, err := s.act.Do(ctx, addr, "DBSIZE")
	if err != nil {
		return "", fmt.Errorf("%w: DBSIZE on %s: %v", ErrBadRequest, addr, err)
	}
	if n, _ := v.(int64); n > 0 {
		return "", fmt.Errorf("%w: %s holds %d keys; a node joining a cluster must be empty", ErrConflict, addr, n)
	}
	return id, nil
}

// checkNewNodes checks several new nodes; the first failure wins.
func (s *Service) checkNewNodes(ctx context.Context, addrs []string) (map[string]string, error) {
	ids := map[string]string{}
	for _, a := range addrs {
		id, err := s.checkNewNode(ctx, a)
		if err != nil {
			return nil, err
		}
		for other, oid := range ids {
			if oid == id {
				return nil, fmt.Errorf("%w: %s and %s are the same node (id %s)", ErrBadRequest, other, a, short(id))
			}
		}
		ids[a] = id
	}
	return ids, nil
}

// beginOperation records op and returns its status (202).
func (s *Service) beginOperation(r *http.Request, op raftstore.Operation) (any, error) {
	if err := s.node.VerifyLeader(); err != nil {
		return nil, err
	}
	op.RequestedBy, op.Leader = caller(r), s.cfg.ID
	if err := s.node.Apply(r.Context(), &raftstore.OpBegin{Operation: op, At: time.Now()}); err != nil {
		if errors.Is(err, raftstore.ErrOperationRunning) || errors.Is(err, raftstore.ErrClusterExists) {
			return nil, fmt.Errorf("%w: %v", ErrConflict, err)
		}
		if errors.Is(err, raftstore.ErrUnknownCluster) {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return nil, err
	}
	s.pokeOperations()
	for _, o := range s.fsm.Operations() {
		if o.Cluster == op.Cluster && o.State == raftstore.OpRunning {
			return result{status: http.StatusAccepted, body: operationStatus(o)}, nil
		}
	}
	// Finished already (cannot happen before the runner starts, but the
	// answer stays truthful).
	ops := s.fsm.Operations()
	return result{status: http.StatusAccepted, body: operationStatus(ops[len(ops)-1])}, nil
}

// operationGate refuses a new operation on a cluster that has one running
// or a failover under way.
func (s *Service) operationGate(name string) (raftstore.Cluster, error) {
	c, ok := s.fsm.Cluster(name)
	if !ok {
		return c, fmt.Errorf("%w: cluster %q", ErrNotFound, name)
	}
	if o, ok := s.fsm.RunningOperation(name); ok {
		return c, fmt.Errorf("%w: operation %s (%s) is running on cluster %s; wait for it or cancel it", ErrConflict, o.ID, o.Kind, name)
	}
	if c.Failover != nil {
		return c, fmt.Errorf("%w: failover %s is running on cluster %s", ErrConflict, c.Failover.ID, name)
	}
	return c, nil
}

// liveHealthy reads the cluster now and refuses (unless force) when it is
// unhealthy.
func (s *Service) liveHealthy(ctx context.Context, name string, force bool) (*liveCluster, error) {
	l, err := s.readLive(ctx, s.clusterAddrs(name))
	if err != nil {
		return nil, fmt.Errorf("%w: cluster %s: %v", ErrConflict, name, err)
	}
	if p := l.problems(); len(p) > 0 && !force {
		return nil, fmt.Errorf("%w: cluster %s is not healthy (%s); fix it first or pass force", ErrConflict, name, strings.Join(p, "; "))
	}
	return l, nil
}

func (s *Service) postClusterCreate(r *http.Request) (any, error) {
	var q CreateClusterRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if _, ok := s.fsm.Cluster(q.Name); ok {
		return nil, fmt.Errorf("%w: cluster %q already exists", ErrConflict, q.Name)
	}
	if o, ok := s.fsm.RunningOperation(q.Name); ok {
		return nil, fmt.Errorf("%w: operation %s is already creating cluster %s", ErrConflict, o.ID, q.Name)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	all := append([]string(nil), q.Masters...)
	for _, m := range q.Masters {
		all = append(all, q.Replicas[m]...)
	}
	ids, err := s.checkNewNodes(ctx, all)
	if err != nil {
		return nil, err
	}
	slots := map[string][]cluster.SlotRange{}
	if len(q.Slots) > 0 {
		slots, _ = slotsByMaster(q.Masters, q.Slots)
	} else {
		even, err := cluster.EvenSlots(len(q.Masters))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		for i, m := range q.Masters {
			slots[m] = []cluster.SlotRange{even[i]}
		}
	}
	req := raftstore.OpRequest{Masters: q.Masters, Replicas: map[string][]string{}, Slots: map[string]string{}}
	var nodes []raftstore.OpNode
	var assign, follow []string
	for _, m := range q.Masters {
		req.Slots[m] = cluster.FormatSlots(slots[m])
		nodes = append(nodes, raftstore.OpNode{ID: ids[m], Addr: m})
		assign = append(assign, fmt.Sprintf("%s to %s", req.Slots[m], m))
		if len(q.Replicas[m]) > 0 {
			req.Replicas[m] = append([]string(nil), q.Replicas[m]...)
			follow = append(follow, fmt.Sprintf("%s follow %s", strings.Join(q.Replicas[m], ", "), m))
		}
		for _, rp := range q.Replicas[m] {
			nodes = append(nodes, raftstore.OpNode{ID: ids[rp], Addr: rp, Master: ids[m]})
		}
	}
	plan := []raftstore.OpStep{
		{Kind: raftstore.StepAssignSlots, Detail: "assign slots " + strings.Join(assign, ", "), Nodes: q.Masters},
		{Kind: raftstore.StepSetEpochs, Detail: fmt.Sprintf("give the %d nodes distinct config epochs", len(all)), Nodes: all},
		{Kind: raftstore.StepMeet, Detail: "every node meets " + q.Masters[0], Nodes: all},
		{Kind: raftstore.StepWaitKnown, Detail: fmt.Sprintf("wait until all %d nodes know each other and agree on the slot map", len(all)), Nodes: all},
	}
	if len(follow) > 0 {
		plan = append(plan, raftstore.OpStep{Kind: raftstore.StepReplicate, Detail: strings.Join(follow, "; "), Nodes: all[len(q.Masters):]})
	}
	plan = append(plan, raftstore.OpStep{Kind: raftstore.StepVerify, Detail: "verify every slot is served, every node says ok, and the replicas follow the masters asked", Nodes: all})
	return s.beginOperation(r, raftstore.Operation{Cluster: q.Name, Kind: raftstore.OpCreate, Request: req, Nodes: nodes, Plan: plan})
}

func (s *Service) postShardAdd(r *http.Request) (any, error) {
	name := r.PathValue("name")
	var q AddShardRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if err := config.ValidateAddr(q.Master); err != nil {
		return nil, fmt.Errorf("%w: master: %v", ErrBadRequest, err)
	}
	seen := map[string]string{q.Master: "master"}
	if err := checkAddrs("replicas", q.Replicas, seen); err != nil {
		return nil, err
	}
	if _, err := s.operationGate(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	all := append([]string{q.Master}, q.Replicas...)
	ids, err := s.checkNewNodes(ctx, all)
	if err != nil {
		return nil, err
	}
	l, err := s.liveHealthy(ctx, name, q.Force)
	if err != nil {
		return nil, err
	}
	owners := l.owners()
	owners[ids[q.Master]] = nil
	moves, err := cluster.Balance(owners, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: plan the rebalance: %v", ErrConflict, err)
	}
	addrs := map[string]string{ids[q.Master]: q.Master}
	nodes := []raftstore.OpNode{{ID: ids[q.Master], Addr: q.Master}}
	for _, rp := range q.Replicas {
		nodes = append(nodes, raftstore.OpNode{ID: ids[rp], Addr: rp, Master: ids[q.Master]})
	}
	plan := []raftstore.OpStep{
		{Kind: raftstore.StepMeet, Detail: fmt.Sprintf("%s meets the cluster through %s", strings.Join(all, ", "), l.ref), Nodes: all},
		{Kind: raftstore.StepWaitKnown, Detail: "wait until every node knows " + strings.Join(all, ", ") + " and " + q.Master + " says cluster_state:ok", Nodes: all},
	}
	if len(q.Replicas) > 0 {
		plan = append(plan, raftstore.OpStep{Kind: raftstore.StepReplicate, Detail: strings.Join(q.Replicas, ", ") + " follow " + q.Master, Nodes: q.Replicas})
	}
	mstep := migrateStep(l, moves, addrs)
	plan = append(plan, mstep,
		raftstore.OpStep{Kind: raftstore.StepVerify, Detail: "verify every slot is served and every master holds its share", Nodes: all})
	op := raftstore.Operation{Cluster: name, Kind: raftstore.OpAddShard,
		Request: raftstore.OpRequest{Master: q.Master, Nodes: q.Replicas, Force: q.Force}, Nodes: nodes, Plan: plan}
	return s.beginOperation(r, op)
}

// migrateStep turns planned moves into a migrate step.
func migrateStep(l *liveCluster, moves []cluster.Move, extra map[string]string) raftstore.OpStep {
	addr := func(id string) string {
		if a, ok := extra[id]; ok {
			return a
		}
		return l.addrOf(id)
	}
	st := raftstore.OpStep{Kind: raftstore.StepMigrate}
	total := 0
	for _, m := range moves {
		st.Moves = append(st.Moves, raftstore.OpMove{From: m.From, FromAddr: addr(m.From), To: m.To, ToAddr: addr(m.To),
			Slots: cluster.FormatSlots(m.Slots), Count: m.Count()})
		total += m.Count()
	}
	st.Detail = fmt.Sprintf("move %d slots in %d moves", total, len(moves))
	return st
}

// removalSteps take nodes out of a cluster: forget them everywhere, watch
// the ban window, reset them.
func removalSteps(gone []string) []raftstore.OpStep {
	return []raftstore.OpStep{
		{Kind: raftstore.StepForget, Detail: "forget " + strings.Join(gone, ", ") + " on every remaining node", Nodes: gone},
		{Kind: raftstore.StepVerifyGone, Detail: "through the 60 s ban window, verify no node learns them again, then CLUSTER RESET them", Nodes: gone},
	}
}

// liveShard reads the cluster now (refusing an unhealthy one unless
// force) and finds the shard whose master is key (id or address).
func (s *Service) liveShard(ctx context.Context, name, key string, force bool) (cluster.ShardView, error) {
	l, err := s.liveHealthy(ctx, name, force)
	if err != nil {
		return cluster.ShardView{}, err
	}
	return shardOf(l, name, key)
}

// shardOf finds the master named by id or address in the live view.
func shardOf(l *liveCluster, name, key string) (cluster.ShardView, error) {
	for _, sh := range l.topo.Shards {
		if sh.Master.ID == key || sh.Master.Addr == key {
			return sh, nil
		}
	}
	return cluster.ShardView{}, fmt.Errorf("%w: no master of cluster %s has id or address %q", ErrNotFound, name, key)
}

func (s *Service) deleteShard(r *http.Request) (any, error) {
	name, key := r.PathValue("name"), r.PathValue("master")
	force, err := boolQuery(r, "force")
	if err != nil {
		return nil, err
	}
	if _, err := s.operationGate(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	l, err := s.liveHealthy(ctx, name, force)
	if err != nil {
		return nil, err
	}
	sh, err := shardOf(l, name, key)
	if err != nil {
		return nil, err
	}
	owners := l.owners()
	if _, ok := owners[sh.Master.ID]; !ok {
		return nil, fmt.Errorf("%w: master %s is flagged failing; fail its shard over first", ErrConflict, sh.Master.Addr)
	}
	if len(owners) < 2 {
		return nil, fmt.Errorf("%w: %s is the last master of cluster %s; it cannot be removed", ErrConflict, sh.Master.Addr, name)
	}
	moves, err := cluster.Drain(owners, sh.Master.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConflict, err)
	}
	gone := []string{sh.Master.Addr}
	nodes := []raftstore.OpNode{{ID: sh.Master.ID, Addr: sh.Master.Addr}}
	for _, rp := range sh.Replicas {
		gone = append(gone, rp.Addr)
		nodes = append(nodes, raftstore.OpNode{ID: rp.ID, Addr: rp.Addr, Master: sh.Master.ID})
	}
	var plan []raftstore.OpStep
	if len(moves) > 0 {
		plan = append(plan, migrateStep(l, moves, nil))
	}
	plan = append(plan, removalSteps(gone)...)
	plan = append(plan, raftstore.OpStep{Kind: raftstore.StepVerify, Detail: "verify every slot is served"})
	op := raftstore.Operation{Cluster: name, Kind: raftstore.OpRemoveShard,
		Request: raftstore.OpRequest{Master: sh.Master.Addr, Force: force}, Nodes: nodes, Plan: plan}
	return s.beginOperation(r, op)
}

func boolQuery(r *http.Request, key string) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: query %s=%q is not true or false", ErrBadRequest, key, v)
	}
	return b, nil
}

// Validate names what is wrong with the request (without asking Redis).
func (q RebalanceRequest) Validate() error {
	if t := q.threshold(); t < 0 || t > 100 || math.IsNaN(t) {
		return fmt.Errorf("%w: threshold_pct %v must be from 0 to 100", ErrBadRequest, t)
	}
	for _, k := range sortedKeys(q.Weights) {
		if w := q.Weights[k]; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("%w: weights[%s]: %v must be a number >= 0", ErrBadRequest, k, w)
		}
	}
	return nil
}

func (q RebalanceRequest) threshold() float64 {
	if q.ThresholdPct != nil {
		return *q.ThresholdPct
	}
	return 2
}

// planRebalance computes the rebalance of the live cluster.
func planRebalance(l *liveCluster, name string, q RebalanceRequest) (RebalancePlan, []cluster.Move, error) {
	if err := q.Validate(); err != nil {
		return RebalancePlan{}, nil, err
	}
	threshold := q.threshold()
	owners := l.owners()
	weights := map[string]float64{}
	for _, k := range sortedKeys(q.Weights) {
		w := q.Weights[k]
		id := ""
		for mid := range owners {
			if mid == k || l.addrOf(mid) == k {
				id = mid
			}
		}
		if id == "" {
			return RebalancePlan{}, nil, fmt.Errorf("%w: weights: %q is not a working master of cluster %s", ErrBadRequest, k, name)
		}
		weights[id] = w
	}
	moves, err := cluster.Balance(owners, weights, threshold)
	if err != nil {
		return RebalancePlan{}, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	targets, err := cluster.Targets(owners, weights)
	if err != nil {
		return RebalancePlan{}, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	p := RebalancePlan{Cluster: name, Balanced: len(moves) == 0, Moves: []raftstore.OpMove{}, Targets: targets, Current: map[string]int{},
		Addrs: map[string]string{}, ThresholdPc: threshold}
	if len(q.Weights) > 0 {
		p.Weights = weights
	}
	for id, sl := range owners {
		p.Current[id] = cluster.CountSlots(sl)
		p.Addrs[id] = l.addrOf(id)
	}
	st := migrateStep(l, moves, nil)
	p.Moves = append(p.Moves, st.Moves...)
	for _, m := range moves {
		p.SlotsToMove += m.Count()
	}
	return p, moves, nil
}

func (s *Service) postRebalance(r *http.Request) (any, error) {
	name := r.PathValue("name")
	var q RebalanceRequest
	if err := decodeOptional(r, &q); err != nil {
		return nil, err
	}
	if _, err := s.operationGate(name); err != nil && (!q.DryRun || errors.Is(err, ErrNotFound)) {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	l, err := s.readLive(ctx, s.clusterAddrs(name))
	if err != nil {
		return nil, fmt.Errorf("%w: cluster %s: %v", ErrConflict, name, err)
	}
	p, moves, err := planRebalance(l, name, q)
	if err != nil {
		return nil, err
	}
	p.Problems = l.problems()
	if q.DryRun || len(moves) == 0 {
		return p, nil
	}
	if len(p.Problems) > 0 && !q.Force {
		return nil, fmt.Errorf("%w: cluster %s is not healthy (%s); fix it first or pass force", ErrConflict, name, strings.Join(p.Problems, "; "))
	}
	plan := []raftstore.OpStep{migrateStep(l, moves, nil),
		{Kind: raftstore.StepVerify, Detail: "verify every slot is served and every master holds its share"}}
	req := raftstore.OpRequest{Weights: q.Weights, ThresholdPct: p.ThresholdPc, Force: q.Force}
	return s.beginOperation(r, raftstore.Operation{Cluster: name, Kind: raftstore.OpRebalance, Request: req, Plan: plan})
}

func (s *Service) postReplicas(r *http.Request) (any, error) {
	name, key := r.PathValue("name"), r.PathValue("master")
	var q ReplicasRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if len(q.Replicas) == 0 {
		return nil, fmt.Errorf("%w: replicas must list at least one address", ErrBadRequest)
	}
	if err := checkAddrs("replicas", q.Replicas, map[string]string{}); err != nil {
		return nil, err
	}
	if _, err := s.operationGate(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	ids, err := s.checkNewNodes(ctx, q.Replicas)
	if err != nil {
		return nil, err
	}
	sh, err := s.liveShard(ctx, name, key, q.Force)
	if err != nil {
		return nil, err
	}
	var nodes []raftstore.OpNode
	for _, rp := range q.Replicas {
		nodes = append(nodes, raftstore.OpNode{ID: ids[rp], Addr: rp, Master: sh.Master.ID})
	}
	plan := []raftstore.OpStep{
		{Kind: raftstore.StepMeet, Detail: fmt.Sprintf("%s meets the cluster through %s", strings.Join(q.Replicas, ", "), sh.Master.Addr), Nodes: q.Replicas},
		{Kind: raftstore.StepWaitKnown, Detail: "wait until every node knows " + strings.Join(q.Replicas, ", "), Nodes: q.Replicas},
		{Kind: raftstore.StepReplicate, Detail: strings.Join(q.Replicas, ", ") + " follow " + sh.Master.Addr, Nodes: q.Replicas},
		{Kind: raftstore.StepVerify, Detail: "verify the replicas follow " + sh.Master.Addr, Nodes: q.Replicas},
	}
	op := raftstore.Operation{Cluster: name, Kind: raftstore.OpAddReplicas,
		Request: raftstore.OpRequest{Master: sh.Master.Addr, Nodes: q.Replicas, Force: q.Force}, Nodes: nodes, Plan: plan}
	return s.beginOperation(r, op)
}

func (s *Service) deleteReplicas(r *http.Request) (any, error) {
	name, key := r.PathValue("name"), r.PathValue("master")
	var q ReplicasRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if len(q.Replicas) == 0 {
		return nil, fmt.Errorf("%w: replicas must list at least one address or id", ErrBadRequest)
	}
	if _, err := s.operationGate(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sh, err := s.liveShard(ctx, name, key, q.Force)
	if err != nil {
		return nil, err
	}
	var nodes []raftstore.OpNode
	var gone []string
	listed := map[string]int{}
	for i, want := range q.Replicas {
		found := false
		for _, rp := range sh.Replicas {
			if rp.ID == want || rp.Addr == want {
				if j, dup := listed[rp.ID]; dup {
					return nil, fmt.Errorf("%w: replicas[%d]: %s is already listed as replicas[%d]", ErrBadRequest, i, want, j)
				}
				listed[rp.ID] = i
				nodes = append(nodes, raftstore.OpNode{ID: rp.ID, Addr: rp.Addr, Master: sh.Master.ID})
				gone = append(gone, rp.Addr)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: replicas[%d]: %q is not a replica of %s", ErrNotFound, i, want, sh.Master.Addr)
		}
	}
	plan := removalSteps(gone)
	op := raftstore.Operation{Cluster: name, Kind: raftstore.OpRemoveReplicas,
		Request: raftstore.OpRequest{Master: sh.Master.Addr, Nodes: gone, Force: q.Force}, Nodes: nodes, Plan: plan}
	return s.beginOperation(r, op)
}
