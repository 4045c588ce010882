package raftstore

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The Raft port carries two protocols: Raft's own RPCs and the watchdogs'
// peer traffic (reports to the leader, forwarded calls). Each connection
// announces which with its first byte.
const (
	protoRaft byte = 'R'
	protoPeer byte = 'W'
)

// ErrMuxClosed is returned by Accept after Close.
var ErrMuxClosed = errors.New("listener closed")

// Mux splits one TCP listener into the Raft stream layer and the peer
// listener.
type Mux struct {
	ln        net.Listener
	advertise net.Addr
	clientTLS *tls.Config
	local     net.Addr // source of dialed connections; nil: the system's
	raftCh    chan net.Conn
	peerCh    chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewMux listens on bind and advertises advertise to other members. With
// serverTLS and clientTLS set, every connection is mutual TLS. local (may be
// nil) is the source address of every connection it dials.
func NewMux(bind, advertise string, serverTLS, clientTLS *tls.Config, local net.Addr) (*Mux, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
	}
	m := &Mux{
		ln: ln, advertise: adv, clientTLS: clientTLS, local: local,
		raftCh: make(chan net.Conn), peerCh: make(chan net.Conn),
		done: make(chan struct{}),
	}
	m.wg.Add(1)
	go m.serve()
	return m, nil
}

func (m *Mux) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		m.wg.Add(1)
		go m.route(c)
	}
}

func (m *Mux) route(c net.Conn) {
	defer m.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var ch chan net.Conn
	switch b[0] {
	case protoRaft:
		ch = m.raftCh
	case protoPeer:
		ch = m.peerCh
	default:
		c.Close()
		return
	}
	select {
	case ch <- c:
	case <-m.done:
		c.Close()
	}
}

// Close stops accepting and waits for routing goroutines.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	m.wg.Wait()
	return err
}

// Addr is the listener's bound address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// RaftLayer returns the raft.StreamLayer side.
func (m *Mux) RaftLayer() raft.StreamLayer { return m.layer(m.raftCh, protoRaft) }

// PeerListener returns the listener of peer connections.
func (m *Mux) PeerListener() net.Listener { return m.layer(m.peerCh, protoPeer) }

func (m *Mux) layer(ch chan net.Conn, proto byte) *muxLayer {
	return &muxLayer{m: m, ch: ch, proto: proto, closed: make(chan struct{})}
}

type muxLayer struct {
	m         *Mux
	ch        chan net.Conn
	proto     byte
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, ErrMuxClosed
	case <-l.m.done:
		return nil, ErrMuxClosed
	}
}

// Close ends this side's Accept; the Mux owns the TCP listener.
func (l *muxLayer) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *muxLayer) Addr() net.Addr { return l.m.advertise }

func (l *muxLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return DialProto(string(address), l.proto, timeout, l.m.clientTLS, l.m.local)
}

// DialPeer opens a peer-protocol connection to a member's Raft address.
func (m *Mux) DialPeer(addr string, timeout time.Duration) (net.Conn, error) {
	return DialProto(addr, protoPeer, timeout, m.clientTLS, m.local)
}

// DialProto dials addr from local (nil: the system's choice), over TLS when
// clientTLS is set, and announces proto.
func DialProto(addr string, proto byte, timeout time.Duration, clientTLS *tls.Config, local net.Addr) (net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	d := &net.Dialer{Timeout: timeout, LocalAddr: local}
	if clientTLS != nil {
		cfg := clientTLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{proto}); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}
