package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"warden/config"
)

// exampleFiles lists every configuration under examples/.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"examples/*.yaml", "examples/*/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 6 {
		t.Fatalf("examples: found only %q", files)
	}
	return files
}

// TestExamplesValidate loads every example the way `warden validate` does,
// on a machine where the files each one names are in place.
func TestExamplesValidate(t *testing.T) {
	for _, f := range exampleFiles(t) {
		t.Run(f, func(t *testing.T) {
			text := read(t, f)
			if vars := referencedVars(text); len(vars) > 0 {
				t.Errorf("uses environment variables %q: an example for a host should stand on its own", vars)
			}
			if _, err := parseWith(t, text, nil); err != nil {
				t.Errorf("does not validate: %v", err)
			}
		})
	}
}

// TestExamplesCoverTheFeatures checks that each example shows what its
// name promises.
func TestExamplesCoverTheFeatures(t *testing.T) {
	load := func(f string) config.Config {
		t.Helper()
		c, err := parseWith(t, read(t, f), nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		return c
	}
	if c := load("examples/redis-cluster.yaml"); len(c.Clusters) == 0 || len(c.Clusters[0].Seeds) == 0 {
		t.Errorf("redis-cluster.yaml watches no cluster")
	}
	c := load("examples/tls.yaml")
	if !c.Raft.TLS.Enabled() || c.HTTP.TLS.CertFile == "" || !c.Redis.TLS.Enabled || c.HTTP.TokenFile == "" {
		t.Errorf("tls.yaml: want raft.tls, http.tls, redis.tls and http.token_file")
	}
	c = load("examples/webhooks.yaml")
	formats := map[string]bool{}
	for _, h := range c.Webhooks {
		formats[h.Format] = true
	}
	if !formats["json"] || !formats["slack"] {
		t.Errorf("webhooks.yaml: want a json and a slack hook, have %+v", c.Webhooks)
	}
}

// TestExamplesThreeMembers checks that the three members' files make one
// group: they differ only in the lines marked "this member", and those
// give each member its own id and addresses.
func TestExamplesThreeMembers(t *testing.T) {
	files, err := filepath.Glob("examples/three-members/w*.yaml")
	if err != nil || len(files) != 3 {
		t.Fatalf("want w1.yaml, w2.yaml, w3.yaml, have %q (%v)", files, err)
	}
	shared := func(text string) []string {
		var lines []string
		for i, l := range strings.Split(text, "\n") {
			if i < 2 || strings.Contains(l, "# this member") {
				continue // the header names the member, and the marked lines differ
			}
			lines = append(lines, l)
		}
		return lines
	}
	first := shared(read(t, files[0]))
	var cfgs []config.Config
	for _, f := range files {
		text := read(t, f)
		if s := shared(text); !slices.Equal(s, first) {
			t.Errorf("%s differs from %s in lines not marked \"this member\"", f, files[0])
		}
		c, err := parseWith(t, text, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cfgs = append(cfgs, c)
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	for i, c := range cfgs {
		if want := strings.TrimSuffix(filepath.Base(files[i]), ".yaml"); c.ID != want {
			t.Errorf("%s: id %q, want %q", files[i], c.ID, want)
		}
		ids[c.ID] = true
		for _, a := range []string{c.Raft.Advertise, c.HTTP.Listen, c.Sentinel.Listen} {
			if addrs[a] {
				t.Errorf("%s: address %s is another member's too", files[i], a)
			}
			addrs[a] = true
		}
		if len(c.Raft.Bootstrap) != len(files) {
			t.Errorf("%s: raft.bootstrap lists %d members, want %d", files[i], len(c.Raft.Bootstrap), len(files))
		}
	}
	if len(ids) != len(files) {
		t.Errorf("ids are not distinct: %v", ids)
	}
}

func TestExamplesReadme(t *testing.T) {
	doc := read(t, "examples/README.md")
	for _, f := range exampleFiles(t) {
		rel, _ := filepath.Rel("examples", f)
		if !strings.Contains(doc, rel) && !strings.Contains(doc, filepath.Dir(rel)+"/") {
			t.Errorf("examples/README.md does not mention %s", rel)
		}
	}
}
