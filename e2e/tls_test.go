package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/config"
)

// TestFailoverWithTLSEverywhere: Redis speaks only TLS, the members talk
// mutual TLS to each other, the API is served over TLS with client
// certificates required; the failover works as over plain TCP, and a
// plain-text caller is turned away at both warden ports.
func TestFailoverWithTLSEverywhere(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	certs, err := WriteCerts(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Redis
	for i := 0; i < 3; i++ {
		o := RedisOptions{Dir: filepath.Join(dir, fmt.Sprintf("redis-%d", i)), TLS: certs}
		if i > 0 {
			o.ReplicaOf = nodes[0].Addr
		}
		r, err := StartRedis(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Kill() })
		nodes = append(nodes, r)
	}
	for _, r := range nodes[1:] {
		waitFollowsTLS(t, r, nodes[0].Addr)
	}

	ports, err := FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	var boot, addrs []string
	for i := 0; i < 3; i++ {
		boot = append(boot, fmt.Sprintf("w%d=%s", i+1, Addr(ports[i])))
	}
	for _, r := range nodes {
		addrs = append(addrs, r.Addr)
	}
	files := config.TLSFiles{CertFile: certs.CertFile, KeyFile: certs.KeyFile, CAFile: certs.CAFile}
	var ws []*Warden
	for i := 0; i < 3; i++ {
		c := config.Default()
		c.ID = fmt.Sprintf("w%d", i+1)
		c.DataDir = filepath.Join(dir, c.ID)
		c.Raft.Bind, c.Raft.Bootstrap, c.Raft.TLS = Addr(ports[i]), boot, files
		c.HTTP.Listen, c.HTTP.TLS = Addr(ports[3+i]), files
		c.Redis.TLS = config.RedisTLS{Enabled: true, CAFile: certs.CAFile, CertFile: certs.CertFile, KeyFile: certs.KeyFile}
		c.Log.Level = "debug"
		c.Groups = []config.GroupConfig{{Name: DefaultGroup, Nodes: addrs}}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(b); err != nil {
			t.Fatalf("generated config does not parse: %v\n%s", err, b)
		}
		path := filepath.Join(dir, c.ID+".yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, nil)
	}
	// Start the three together: each waits for the group to form.
	errs := make(chan error, 3)
	for i := range ws {
		go func() {
			w, err := StartWarden(ctx, needWarden(t), filepath.Join(dir, fmt.Sprintf("w%d.yaml", i+1)), filepath.Join(dir, fmt.Sprintf("w%d.log", i+1)))
			ws[i] = w
			errs <- err
		}()
	}
	for range ws {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ws {
		t.Cleanup(func() { _ = w.Kill() })
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, w := range ws {
				t.Logf("----- %s\n%s", w.ID, w.Tail(40))
			}
		}
	})

	g, err := WaitForAgreement(ctx, ws, DefaultGroup, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if g.Master != nodes[0].Addr {
		t.Fatalf("watchdogs agree on master %s, want %s", g.Master, nodes[0].Addr)
	}

	// The CLI reaches the TLS API with the CA and a client certificate,
	// and is refused without the certificate.
	cli := func(extra ...string) (string, error) {
		args := append([]string{"status", "--addr", "https://" + ws[1].HTTPAddr, "--ca-file", certs.CAFile}, extra...)
		out, err := exec.CommandContext(ctx, needWarden(t), args...).CombinedOutput()
		return string(out), err
	}
	if out, err := cli("--cert-file", certs.CertFile, "--key-file", certs.KeyFile); err != nil || !strings.Contains(out, "w2") {
		t.Fatalf("warden status over TLS: %v\n%s", err, out)
	}
	if out, err := cli(); err == nil {
		t.Fatalf("warden status without a client certificate succeeded:\n%s", out)
	}

	// Plain text is refused: at the API, and on the members' port.
	resp, err := http.Get("http://" + ws[0].HTTPAddr + "/v1/status")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the TLS API answered a plain-text request")
		}
	}
	conn, err := net.DialTimeout("tcp", ws[0].RaftAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "WGET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil && strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatal("the members' port answered a plain-text peer request")
	}
	conn.Close()

	began := time.Now()
	if err := nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	g, err = WaitForMaster(ctx, ws, DefaultGroup, nodes[0].Addr, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover over TLS announced after %v: master %s", time.Since(began).Round(time.Millisecond), g.Master)
	var nm *Redis
	for _, r := range nodes {
		if r.Addr == g.Master {
			nm = r
		}
	}
	if nm == nil {
		t.Fatalf("new master %s is none of the nodes", g.Master)
	}
	err = WaitFor(ctx, settleTimeout, "the new master to say ROLE master over TLS", func() (bool, error) {
		c := nm.Client()
		defer c.Close()
		v, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return false, err
		}
		return v[0] == "master", fmt.Errorf("role %v", v[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range nodes[1:] {
		if r != nm {
			waitFollowsTLS(t, r, nm.Addr)
		}
	}
}

// waitFollowsTLS polls INFO replication over TLS until r follows master
// with its link up.
func waitFollowsTLS(t *testing.T, r *Redis, master string) {
	t.Helper()
	ctx := t.Context()
	err := WaitFor(ctx, settleTimeout, r.Addr+" to follow "+master+" over TLS", func() (bool, error) {
		c := r.Client()
		defer c.Close()
		s, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return false, err
		}
		kv := ParseInfo(s)
		got := kv["master_host"] + ":" + kv["master_port"]
		if got != master || kv["master_link_status"] != "up" {
			return false, fmt.Errorf("follows %s, link %s", got, kv["master_link_status"])
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
