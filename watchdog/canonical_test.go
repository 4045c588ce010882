package watchdog

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestProberCanonical: a replica's master named by IP is recognised as
// the probed node named by host, and nothing else is.
func TestProberCanonical(t *testing.T) {
	p := NewProber(ProberConfig{Timeout: time.Second}, zap.NewNop())
	p.nodes["localhost:7000"] = &probed{}
	p.nodes["127.0.0.2:7001"] = &probed{}
	p.nodes["localhost:7002"] = &probed{cluster: true}
	cases := []struct{ in, want string }{
		{"127.0.0.1:7000", "localhost:7000"}, // the name resolves to the IP
		{"localhost:7000", "localhost:7000"}, // probed as it is
		{"127.0.0.2:7000", "127.0.0.2:7000"}, // another IP
		{"127.0.0.1:7001", "127.0.0.1:7001"}, // port 7001 is 127.0.0.2 only
		{"127.0.0.1:7002", "127.0.0.1:7002"}, // cluster nodes are not groups' masters
		{"no-such-host.invalid:7000", "no-such-host.invalid:7000"},
		{"", ""},
		{"garbage", "garbage"},
	}
	for _, c := range cases {
		if got := p.canonical(t.Context(), c.in); got != c.want {
			t.Errorf("canonical(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A lookup is reused, not repeated, within dnsFor.
	p.mu.Lock()
	r, ok := p.dns["localhost"]
	p.mu.Unlock()
	if !ok || len(r.ips) == 0 {
		t.Fatalf("localhost was not resolved and cached: %+v", r)
	}
}
