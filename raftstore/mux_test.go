package raftstore

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestMuxRoutesByFirstByte(t *testing.T) {
	m, err := NewMux("127.0.0.1:0", "127.0.0.1:1", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := m.Addr().String()
	if got := m.RaftLayer().Addr().String(); got != "127.0.0.1:1" {
		t.Fatalf("raft layer advertises %s", got)
	}

	// A connection with an unknown first byte is closed.
	bad, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = bad.Write([]byte{'X'})
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("unknown protocol byte: read %v, want EOF", err)
	}
	bad.Close()

	for _, tc := range []struct {
		name string
		dial func() (net.Conn, error)
		ln   net.Listener
	}{
		{"raft", func() (net.Conn, error) { return m.RaftLayer().Dial("ignored", time.Second) }, nil},
		{"peer", func() (net.Conn, error) { return m.DialPeer(addr, time.Second) }, m.PeerListener()},
	} {
		ln := tc.ln
		if ln == nil {
			ln = m.RaftLayer()
		}
		if tc.name == "raft" {
			// The raft layer dials the address it is given; dial the mux itself.
			tc.dial = func() (net.Conn, error) { return DialProto(addr, protoRaft, time.Second, nil, nil) }
		}
		c, err := tc.dial()
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatalf("%s: accept: %v", tc.name, err)
		}
		buf := make([]byte, 5)
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("%s: read %q, %v", tc.name, buf, err)
		}
		s.Close()
		c.Close()
	}

	m.Close()
	if _, err := m.PeerListener().Accept(); err != ErrMuxClosed {
		t.Fatalf("accept after close: %v", err)
	}
}
