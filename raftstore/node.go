package raftstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/zap"

	"warden/config"
)

// Node is this member's Raft node with its FSM.
type Node struct {
	raft  *raft.Raft
	fsm   *FSM
	mux   *Mux
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	id    string
	log   *zap.Logger
}

// Options are what Open needs beyond the config.
type Options struct {
	// Transport overrides the network transport (tests use the in-memory
	// one); the Mux is then not created.
	Transport raft.Transport
	// InmemStores keeps log and stable store in memory (tests).
	InmemStores bool
}

// Open starts the Raft node from cfg. It bootstraps the group from
// raft.bootstrap only when data_dir holds no Raft state yet, so a restart
// always resumes from the persisted log.
func Open(cfg config.Config, fsm *FSM, lg *zap.Logger, opt Options) (*Node, error) {
	n := &Node{fsm: fsm, id: cfg.ID, log: lg}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.Raft.HeartbeatTimeout.D()
	rc.ElectionTimeout = cfg.Raft.ElectionTimeout.D()
	rc.LeaderLeaseTimeout = rc.HeartbeatTimeout / 2
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = cfg.Raft.SnapshotThreshold
	rc.Logger = NewHCLogger(lg.Named("raft"))
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
		trans  raft.Transport
	)
	if opt.InmemStores {
		s := raft.NewInmemStore()
		logs, stable, snaps = s, s, raft.NewInmemSnapshotStore()
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
		if err != nil {
			return nil, fmt.Errorf("open raft log in %s: %w", cfg.DataDir, err)
		}
		n.store = bs
		cached, err := raft.NewLogCache(512, bs)
		if err != nil {
			bs.Close()
			return nil, fmt.Errorf("raft log cache: %w", err)
		}
		logs, stable = cached, bs
		fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 3, rc.Logger.Named("snapshot"))
		if err != nil {
			bs.Close()
			return nil, fmt.Errorf("snapshot store in %s: %w", cfg.DataDir, err)
		}
		snaps = fss
	}
	if opt.Transport != nil {
		trans = opt.Transport
	} else {
		serverTLS, clientTLS, err := cfg.RaftTLS()
		if err != nil {
			n.closeStores()
			return nil, err
		}
		mux, err := NewMux(cfg.Raft.Bind, cfg.Raft.Advertise, serverTLS, clientTLS, cfg.LocalAddr())
		if err != nil {
			n.closeStores()
			return nil, fmt.Errorf("raft.bind %s: %w", cfg.Raft.Bind, err)
		}
		n.mux = mux
		n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  mux.RaftLayer(),
			MaxPool: 3,
			Timeout: 2 * time.Second,
			Logger:  rc.Logger.Named("transport"),
		})
		trans = n.trans
	}

	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		n.closeAll()
		return nil, fmt.Errorf("read raft state: %w", err)
	}
	if !existing && cfg.Raft.Join {
		lg.Info("no raft state and raft.join set: waiting to be added to a running group (POST /v1/raft/peers on any member)")
	} else if !existing {
		peers, err := cfg.Peers()
		if err != nil {
			n.closeAll()
			return nil, err
		}
		var servers []raft.Server
		for _, p := range peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(rc, logs, stable, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			n.closeAll()
			return nil, fmt.Errorf("bootstrap raft: %w", err)
		}
		lg.Info("bootstrapped raft group", zap.Int("members", len(servers)))
	} else {
		lg.Info("resuming from persisted raft state", zap.String("data-dir", cfg.DataDir))
	}
	r, err := raft.NewRaft(rc, fsm, logs, stable, snaps, trans)
	if err != nil {
		n.closeAll()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	return n, nil
}

func (n *Node) closeStores() {
	if n.store != nil {
		n.store.Close()
	}
}

func (n *Node) closeAll() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.mux != nil {
		n.mux.Close()
	}
	n.closeStores()
}

// Close shuts Raft down and releases the stores and listeners.
func (n *Node) Close() error {
	err := n.raft.Shutdown().Error()
	n.closeAll()
	return err
}

// FSM returns the state machine.
func (n *Node) FSM() *FSM { return n.fsm }

// ID is this member's id.
func (n *Node) ID() string { return n.id }

// PeerListener is the listener for peer traffic on the Raft port (nil with
// an injected transport).
func (n *Node) PeerListener() net.Listener {
	if n.mux == nil {
		return nil
	}
	return n.mux.PeerListener()
}

// DialPeer opens a peer connection to a member (over the members' TLS when
// configured).
func (n *Node) DialPeer(addr string, timeout time.Duration) (net.Conn, error) {
	if n.mux == nil {
		return DialProto(addr, protoPeer, timeout, nil, nil)
	}
	return n.mux.DialPeer(addr, timeout)
}

// Apply encodes c, appends it to the log and waits until it is applied.
// An error returned by the FSM is the caller's error.
func (n *Node) Apply(ctx context.Context, c Command) error {
	b, err := Encode(c)
	if err != nil {
		return err
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	f := n.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return fmt.Errorf("raft apply: %w", err)
	}
	if resp, ok := f.Response().(error); ok && resp != nil {
		return resp
	}
	return nil
}

// IsLeader reports whether this member believes it leads.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// VerifyLeader confirms with a quorum that this member still leads. It is
// called right before every side effect on Redis.
func (n *Node) VerifyLeader() error {
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return nil
}

// Barrier waits until every entry before it is applied to the FSM.
func (n *Node) Barrier(timeout time.Duration) error { return n.raft.Barrier(timeout).Error() }

// LeaderCh reports leadership changes of this member.
func (n *Node) LeaderCh() <-chan bool { return n.raft.LeaderCh() }

// Leader returns the leader's Raft address and id, empty when unknown.
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// State is this member's Raft state (Leader, Follower, Candidate, Shutdown).
func (n *Node) State() string { return n.raft.State().String() }

// Peer is one member of the Raft configuration.
type Peer struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"`
}

// Peers lists the current Raft configuration.
func (n *Node) Peers() ([]Peer, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var out []Peer
	for _, s := range f.Configuration().Servers {
		out = append(out, Peer{ID: string(s.ID), Addr: string(s.Address), Suffrage: s.Suffrage.String()})
	}
	return out, nil
}

// Voters counts the voting members.
func (n *Node) Voters() int {
	ps, err := n.Peers()
	if err != nil {
		return 0
	}
	c := 0
	for _, p := range ps {
		if p.Suffrage == raft.Voter.String() {
			c++
		}
	}
	return c
}

// Stats returns raft's own counters (term, commit index, last contact...).
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Named errors of membership changes.
var (
	ErrPeerExists  = errors.New("a different member already has this id or address")
	ErrPeerUnknown = errors.New("no member has this id")
	ErrMembership  = errors.New("membership change refused")
)

// AddVoter adds a member; adding a member that is already there with the
// same address does nothing and reports false.
func (n *Node) AddVoter(id, addr string, timeout time.Duration) (bool, error) {
	peers, err := n.Peers()
	if err != nil {
		return false, err
	}
	for _, p := range peers {
		switch {
		case p.ID == id && p.Addr == addr:
			return false, nil
		case p.ID == id || p.Addr == addr:
			return false, fmt.Errorf("%w: %s at %s", ErrPeerExists, p.ID, p.Addr)
		}
	}
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error(); err != nil {
		return false, n.leaderErr(err)
	}
	return true, nil
}

// RemoveServer removes a member.
func (n *Node) RemoveServer(id string, timeout time.Duration) error {
	peers, err := n.Peers()
	if err != nil {
		return err
	}
	found, voters := false, 0
	for _, p := range peers {
		found = found || p.ID == id
		if p.Suffrage == raft.Voter.String() {
			voters++
		}
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrPeerUnknown, id)
	}
	if voters <= 1 {
		return fmt.Errorf("%w: %s is the only voter; removing it would leave no group", ErrMembership, id)
	}
	return n.leaderErr(n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error())
}

// TransferLeadership hands leadership to id, or to the most up-to-date
// follower when id is empty.
func (n *Node) TransferLeadership(id string) error {
	if n.Voters() <= 1 {
		return fmt.Errorf("%w: no other voter to hand leadership to", ErrMembership)
	}
	if id == "" {
		return n.leaderErr(n.raft.LeadershipTransfer().Error())
	}
	peers, err := n.Peers()
	if err != nil {
		return err
	}
	for _, p := range peers {
		if p.ID == id {
			return n.leaderErr(n.raft.LeadershipTransferToServer(raft.ServerID(p.ID), raft.ServerAddress(p.Addr)).Error())
		}
	}
	return fmt.Errorf("%w: %q", ErrPeerUnknown, id)
}

func (n *Node) leaderErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return err
}

// LastContact is when this member last heard from the leader (zero on the
// leader itself).
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }
