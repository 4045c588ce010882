package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtureDir = "testdata/redis-7.0.15"

// The node IDs of the captured cluster (see testdata/README.md).
const (
	id17714 = "51bd4d1c0f35934faa0b81938e01d23d880cb6c1"
	id17715 = "a54e952e6716e4374af15f292b3f1a8258eee779"
	id17716 = "a3ed88cdeafc1ae393c125f6def711459b8eb01b"
	id17717 = "27707a214bc9b3f6c7cfa2b639c8780715486e1b"
	id17718 = "7b911831288bc88d27180bb4d1fcd12a9dee6e5d"
	id17719 = "84a432aa421558578663fc8d49b91261f3f76cc4"
)

// hid makes a node ID for hand-written fixtures: c repeated 40 times.
func hid(c byte) string { return strings.Repeat(string(c), 40) }

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseFixture(t testing.TB, name string) []Node {
	t.Helper()
	nodes, err := ParseNodes(readFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return nodes
}

func topologyFixture(t testing.TB, name string) *Topology {
	t.Helper()
	topo, err := NewTopology(parseFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return topo
}

func shardsFixture(t testing.TB, name string) []Shard {
	t.Helper()
	reply, err := decodeRESP([]byte(readFixture(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	shards, err := ParseShards(reply)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return shards
}

// viewsFixture parses every nodes-P.txt of a scenario folder into views
// named "127.0.0.1:P". Files with more after the port (nodes-17718-first.txt)
// are left out.
func viewsFixture(t testing.TB, dir string) map[string][]Node {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, dir, "nodes-?????.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no views in %s: %v", dir, err)
	}
	views := map[string][]Node{}
	for _, p := range paths {
		port := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "nodes-"), ".txt")
		views["127.0.0.1:"+port] = parseFixture(t, filepath.Join(dir, filepath.Base(p)))
	}
	return views
}

// nodeFixtures lists every captured CLUSTER NODES text, relative to fixtureDir.
func nodeFixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*", "nodes-*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CLUSTER NODES fixtures: %v", err)
	}
	for i, p := range paths {
		paths[i], _ = filepath.Rel(fixtureDir, p)
	}
	return paths
}

// shardFixtures lists every captured CLUSTER SHARDS reply, relative to fixtureDir.
func shardFixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*", "shards-*.resp"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CLUSTER SHARDS fixtures: %v", err)
	}
	for i, p := range paths {
		paths[i], _ = filepath.Rel(fixtureDir, p)
	}
	return paths
}
