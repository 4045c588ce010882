package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"warden/config"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func parseDockerfile(t *testing.T, p string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(read(t, p), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// jsonArgs decodes an exec-form (JSON array) argument.
func jsonArgs(t *testing.T, in instruction) []string {
	t.Helper()
	var a []string
	if err := json.Unmarshal([]byte(in.args), &a); err != nil {
		t.Fatalf("%s %s: want the exec form (a JSON array): %v", in.cmd, in.args, err)
	}
	return a
}

const (
	dockerfile   = "docker/Dockerfile"
	composeFile  = "docker/docker-compose.yaml"
	dockerConfig = "docker/warden.yaml"
)

// dockerImage is what the Dockerfile says about the image it builds.
type dockerImage struct {
	command []string // ENTRYPOINT + CMD
	volumes []string
	exposed []int
	user    string
	env     map[string]string
	health  string
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, dockerfile)
	var stages [][]instruction
	var names []string
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
			f := strings.Fields(in.args)
			name := ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			names = append(names, name)
		}
		if len(stages) == 0 {
			t.Fatalf("%s before the first FROM", in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, runtime)", len(stages))
	}
	build, runtime := stages[0], stages[1]
	if f := strings.Fields(build[0].args); !strings.HasPrefix(f[0], "golang:1.26") || names[0] == "" {
		t.Errorf("first stage FROM %s, want golang:1.26 AS <name>", build[0].args)
	}
	if f := strings.Fields(runtime[0].args)[0]; strings.HasPrefix(f, "golang") {
		t.Errorf("runtime stage FROM %s: want a small runtime image, not the toolchain", f)
	}
	built := ""
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			if !strings.Contains(in.args, "CGO_ENABLED=0") || !strings.Contains(in.args, "./cmd/warden") {
				t.Errorf("RUN %s: want CGO_ENABLED=0 go build ... ./cmd/warden", in.args)
			}
			f := strings.Fields(in.args)
			if i := slices.Index(f, "-o"); i >= 0 && i+1 < len(f) {
				built = f[i+1]
			}
		}
	}
	if built == "" {
		t.Fatal("no RUN ... go build -o FILE in the build stage")
	}

	img := dockerImage{env: map[string]string{}}
	copied := false
	for _, in := range runtime[1:] {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) == 3 && f[0] == "--from="+names[0] && f[1] == built {
				copied = true
			}
		case "USER":
			img.user = in.args
		case "VOLUME":
			img.volumes = append(img.volumes, jsonArgs(t, in)...)
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Errorf("EXPOSE %s: %v", p, err)
				}
				img.exposed = append(img.exposed, n)
			}
		case "ENV":
			k, v, _ := strings.Cut(in.args, "=")
			img.env[k] = v
		case "HEALTHCHECK":
			img.health = in.args
		case "ENTRYPOINT", "CMD":
			img.command = append(img.command, jsonArgs(t, in)...)
		}
	}
	if !copied {
		t.Errorf("the runtime stage does not COPY --from=%s %s", names[0], built)
	}
	if u, _, _ := strings.Cut(img.user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q: want a non-root user, by number for runAsNonRoot", img.user)
	} else if _, err := strconv.Atoi(u); err != nil {
		t.Errorf("USER %q: want a numeric uid (Kubernetes' runAsNonRoot cannot check a name)", img.user)
	}
	if len(img.command) < 4 || img.command[len(img.command)-3] != "serve" || img.command[len(img.command)-2] != "--config" {
		t.Fatalf("ENTRYPOINT + CMD %q, want .../warden serve --config FILE", img.command)
	}

	// The image's paths and ports are the ones the compose example's
	// configuration uses.
	cfg := loadComposeWarden(t, loadCompose(t))[0].cfg
	if want := img.command[len(img.command)-1]; want != "/etc/warden/warden.yaml" {
		t.Errorf("--config %s, want /etc/warden/warden.yaml", want)
	}
	if !slices.Equal(img.volumes, []string{cfg.DataDir}) {
		t.Errorf("VOLUME %q, want data_dir %s", img.volumes, cfg.DataDir)
	}
	for key, addr := range map[string]string{"raft.bind": cfg.Raft.Bind, "http.listen": cfg.HTTP.Listen, "sentinel.listen": cfg.Sentinel.Listen} {
		if p := port(t, key, addr); !slices.Contains(img.exposed, p) {
			t.Errorf("EXPOSE %v lacks %s's port %d", img.exposed, key, p)
		}
	}

	// HEALTHCHECK asks /healthz on the API's port.
	if !strings.Contains(img.health, "CMD") {
		t.Fatalf("HEALTHCHECK %q: want a command", img.health)
	}
	check := os.Expand(img.health[strings.Index(img.health, "CMD"):], func(k string) string { return img.env[k] })
	var target *url.URL
	for _, f := range strings.Fields(check) {
		if u, err := url.Parse(strings.Trim(f, `"'`)); err == nil && u.Scheme == "http" {
			target = u
		}
	}
	if target == nil || target.Path != "/healthz" {
		t.Fatalf("HEALTHCHECK %q: want a request to http://...:PORT/healthz", check)
	}
	if p, _ := strconv.Atoi(target.Port()); p != port(t, "http.listen", cfg.HTTP.Listen) || !isLoopbackHost(target.Hostname()) {
		t.Errorf("HEALTHCHECK asks %s, want the loopback address and http.listen's port", target)
	}
	if strings.Contains(check, "curl") && !strings.Contains(strings.Join(runtimeRuns(runtime), " "), "curl") {
		t.Errorf("HEALTHCHECK uses curl, which the runtime stage does not install")
	}
}

func runtimeRuns(stage []instruction) []string {
	var runs []string
	for _, in := range stage {
		if in.cmd == "RUN" {
			runs = append(runs, in.args)
		}
	}
	return runs
}

func isLoopbackHost(h string) bool { return h == "127.0.0.1" || h == "localhost" || h == "::1" }

// TestDockerBuildContext checks that the build context the
// Dockerfile.dockerignore leaves holds every file `go build ./cmd/warden`
// reads: the Go files and embedded files of every package of this module
// that the binary links, go.mod and go.sum.
func TestDockerBuildContext(t *testing.T) {
	goBin := need(t, "go")
	var patterns []string
	for _, line := range strings.Split(read(t, "docker/Dockerfile.dockerignore"), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf("dockerignore exception %q: teach the check exceptions", line)
			}
			patterns = append(patterns, path.Clean(strings.TrimPrefix(line, "/")))
		}
	}
	ignored := func(rel string) bool {
		// A pattern excludes a path and everything below it.
		for p := rel; p != "." && p != "/"; p = path.Dir(p) {
			for _, pat := range patterns {
				if matchIgnore(pat, p) {
					return true
				}
			}
		}
		return false
	}
	if !ignored("deploy/docker/Dockerfile") || !ignored(".git/config") || !ignored("bin/warden") {
		t.Errorf("the ignore rules keep what they exist to drop (.git, bin, deploy): %q", patterns)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles,Standard", "./cmd/warden")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var pkg struct {
			Dir        string
			Module     *struct{ Main bool }
			GoFiles    []string
			EmbedFiles []string
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(pkg.GoFiles, pkg.EmbedFiles) {
			need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(need) < 10 {
		t.Fatalf("go list found only %q", need)
	}
	for _, f := range need {
		if ignored(f) {
			t.Errorf("Dockerfile.dockerignore drops %s, which the build needs", f)
		}
	}
}

// matchIgnore matches a .dockerignore pattern (with ** for any number of
// directories) against a slash-separated path.
func matchIgnore(pattern, p string) bool {
	pp, sp := strings.Split(pattern, "/"), strings.Split(p, "/")
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(pp) {
			return j == len(sp)
		}
		if pp[i] == "**" {
			for k := j; k <= len(sp); k++ {
				if match(i+1, k) {
					return true
				}
			}
			return false
		}
		if j == len(sp) {
			return false
		}
		ok, err := path.Match(pp[i], sp[j])
		return err == nil && ok && match(i+1, j+1)
	}
	return match(0, 0)
}

func TestMatchIgnore(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"**/*_test.go", "config/config_test.go", true},
		{"**/*_test.go", "x_test.go", true},
		{"**/*_test.go", "config/config.go", false},
		{"*.md", "README.md", true},
		{"*.md", "docs/api.md", false},
		{"bin", "bin", true},
		{"**/testdata", "a/b/testdata", true},
	} {
		if got := matchIgnore(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchIgnore(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// composeService is what the checks read of a compose service.
type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Hostname    string            `yaml:"hostname"`
	User        string            `yaml:"user"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Secrets     []string          `yaml:"secrets"`
	Restart     string            `yaml:"restart"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeProject struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeProject {
	t.Helper()
	var p composeProject
	decodeYAML(t, composeFile, &p)
	return p
}

// mounts returns a service's volumes as target → source.
func (s composeService) mounts() map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		f := strings.Split(v, ":")
		if len(f) >= 2 {
			m[f[1]] = f[0]
		}
	}
	return m
}

type composeWarden struct {
	name string
	svc  composeService
	cfg  config.Config
}

// loadComposeWarden returns the warden services (built from the
// Dockerfile), each with the configuration it mounts, loaded with the
// service's environment and secrets.
func loadComposeWarden(t *testing.T, p composeProject) []composeWarden {
	t.Helper()
	var ws []composeWarden
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		df, err := filepath.Abs(filepath.Join(filepath.Dir(composeFile), s.Build.Context, s.Build.Dockerfile))
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := filepath.Abs(dockerfile); df != want {
			t.Errorf("%s builds %s, want %s", name, df, want)
		}
		if ctx, _ := filepath.Abs(filepath.Join(filepath.Dir(composeFile), s.Build.Context)); ctx != filepath.Dir(filepath.Dir(filepath.Dir(df))) {
			t.Errorf("%s: build context %s, want the repository root (the Dockerfile copies go.mod from there)", name, ctx)
		}
		src, ok := s.mounts()["/etc/warden/warden.yaml"]
		if !ok {
			t.Fatalf("%s mounts nothing at /etc/warden/warden.yaml", name)
		}
		text := read(t, filepath.Join(filepath.Dir(composeFile), src))
		for _, v := range referencedVars(text) {
			if _, ok := s.Environment[v]; !ok {
				t.Errorf("%s: the config uses ${%s}, which the service's environment does not set", name, v)
			}
		}
		for file, key := range secretFiles(text) {
			secretName, ok := strings.CutPrefix(file, "/run/secrets/")
			if !ok || !slices.Contains(s.Secrets, secretName) {
				t.Errorf("%s: %s %s is not one of the service's secrets %q", name, key, file, s.Secrets)
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(composeFile), p.Secrets[secretName].File)); err != nil {
				t.Errorf("secret %s: %v", secretName, err)
			}
		}
		cfg, err := parseWith(t, text, s.Environment)
		if err != nil {
			t.Fatalf("%s: %s does not load: %v", name, src, err)
		}
		ws = append(ws, composeWarden{name: name, svc: s, cfg: cfg})
	}
	if len(ws) != 3 {
		t.Fatalf("%d warden services, want 3", len(ws))
	}
	return ws
}

func TestDockerCompose(t *testing.T) {
	p := loadCompose(t)
	ws := loadComposeWarden(t, p)

	var redisNodes []string
	seeds := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if !strings.HasPrefix(s.Image, "redis:") {
			continue
		}
		redisNodes = append(redisNodes, name+":6379")
		if s.User == "" || s.User == "root" || s.User == "0" {
			t.Errorf("%s runs as root", name)
		}
		if len(s.Entrypoint) != 2 || s.Entrypoint[0] != "sh" {
			t.Errorf("%s: entrypoint %q, want sh SCRIPT", name, s.Entrypoint)
		} else if src := s.mounts()[s.Entrypoint[1]]; filepath.Clean(src) != "redis-start.sh" && filepath.Clean(src) != "./redis-start.sh" {
			t.Errorf("%s: %s is mounted from %q, want ./redis-start.sh", name, s.Entrypoint[1], src)
		}
		if s.Environment["REDIS_ANNOUNCE"] != name || s.Hostname != name {
			t.Errorf("%s: REDIS_ANNOUNCE %q, hostname %q: want the service name, which warden's group lists", name, s.Environment["REDIS_ANNOUNCE"], s.Hostname)
		}
		seeds[s.Environment["REDIS_SEED_MASTER"]] = true
		if f, ok := strings.CutPrefix(s.Environment["REDIS_PASSWORD_FILE"], "/run/secrets/"); !ok || !slices.Contains(s.Secrets, f) {
			t.Errorf("%s: REDIS_PASSWORD_FILE %q is none of its secrets %q", name, s.Environment["REDIS_PASSWORD_FILE"], s.Secrets)
		}
		if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "ping") {
			t.Errorf("%s: want a healthcheck that pings", name)
		}
	}
	if len(redisNodes) != 3 {
		t.Errorf("redis services %q, want a master and two replicas", redisNodes)
	}
	if seed := slices.Collect(maps.Keys(seeds)); len(seed) != 1 || !slices.Contains(redisNodes, seed[0]+":6379") {
		t.Errorf("REDIS_SEED_MASTER %q: want one of the redis services, the same for all", seed)
	}

	var members []string
	for _, w := range ws {
		members = append(members, fmt.Sprintf("%s=%s:%d", w.name, w.name, port(t, "raft.bind", w.cfg.Raft.Bind)))
	}
	dataVolumes := map[string]bool{}
	for _, w := range ws {
		c := w.cfg
		if c.ID != w.name || w.svc.Hostname != w.name {
			t.Errorf("%s: id %q, hostname %q: want the service name, which the others dial", w.name, c.ID, w.svc.Hostname)
		}
		if want := fmt.Sprintf("%s:%d", w.name, port(t, "raft.bind", c.Raft.Bind)); c.Raft.Advertise != want {
			t.Errorf("%s: raft.advertise %q, want %q", w.name, c.Raft.Advertise, want)
		}
		if !slices.Equal(c.Raft.Bootstrap, members) {
			t.Errorf("%s: raft.bootstrap %q, want the warden services %q", w.name, c.Raft.Bootstrap, members)
		}
		if want := fmt.Sprintf("%s:%d", w.name, port(t, "sentinel.listen", c.Sentinel.Listen)); c.Sentinel.Advertise != want {
			t.Errorf("%s: sentinel.advertise %q, want %q", w.name, c.Sentinel.Advertise, want)
		}
		if len(c.Groups) != 1 || !slices.Equal(c.Groups[0].Nodes, redisNodes) {
			t.Errorf("%s: groups %+v, want the redis services %q", w.name, c.Groups, redisNodes)
		}
		vol := w.svc.mounts()[c.DataDir]
		if _, declared := p.Volumes[vol]; !declared || dataVolumes[vol] {
			t.Errorf("%s: data_dir %s is on %q, want a named volume of its own", w.name, c.DataDir, vol)
		}
		dataVolumes[vol] = true
		for _, pub := range w.svc.Ports {
			f := strings.Split(pub, ":")
			if len(f) != 3 || f[0] != "127.0.0.1" {
				t.Errorf("%s: port %q, want 127.0.0.1:HOST:CONTAINER (the API on the host's loopback only)", w.name, pub)
			} else if cp, _ := strconv.Atoi(f[2]); cp != port(t, "http.listen", c.HTTP.Listen) {
				t.Errorf("%s: publishes container port %d, the API listens on %s", w.name, cp, c.HTTP.Listen)
			}
		}
	}
}

// TestRedisStartScript runs deploy/docker/redis-start.sh (the Kubernetes
// ConfigMap holds the same file) and, when redis-server is installed,
// starts a real Redis on the configuration it writes, on a Unix socket
// only, and authenticates with a password that needs quoting.
func TestRedisStartScript(t *testing.T) {
	sh := need(t, "sh")
	script, err := filepath.Abs("docker/redis-start.sh")
	if err != nil {
		t.Fatal(err)
	}
	const password = `p"a\ss w0rd`
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(pwFile, []byte(" "+password+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A stand-in redis-server that prints the file it is given.
	stub := filepath.Join(dir, "bin")
	if err := os.Mkdir(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stub, "redis-server"), []byte("#!/bin/sh\ncat \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	gen := func(announce, seed string) (string, string) {
		t.Helper()
		conf := filepath.Join(dir, announce+".conf")
		cmd := exec.CommandContext(t.Context(), sh, script)
		cmd.Env = []string{"PATH=" + stub + ":/usr/bin:/bin", "REDIS_ANNOUNCE=" + announce, "REDIS_SEED_MASTER=" + seed,
			"REDIS_PASSWORD_FILE=" + pwFile, "REDIS_CONF=" + conf}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-start.sh: %v\n%s", err, out)
		}
		return string(out), conf
	}

	replica, _ := gen("redis-1", "redis-0")
	for _, want := range []string{"replica-announce-ip redis-1\n", "replicaof redis-0 6379\n", `requirepass "p\"a\\ss w0rd"` + "\n", `masterauth "p\"a\\ss w0rd"` + "\n"} {
		if !strings.Contains(replica, want) {
			t.Errorf("replica's configuration lacks %q:\n%s", want, replica)
		}
	}
	master, conf := gen("redis-0", "redis-0")
	if strings.Contains(master, "replicaof") {
		t.Errorf("the seed master's configuration has a replicaof:\n%s", master)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the configuration holds the password: want mode 0600, have %v (%v)", fi.Mode().Perm(), err)
	}
	cmd := exec.Command(sh, script)
	cmd.Env = []string{"PATH=" + stub + ":/usr/bin:/bin", "REDIS_ANNOUNCE=x", "REDIS_SEED_MASTER=x", "REDIS_PASSWORD_FILE=" + filepath.Join(dir, "empty")}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "is empty") {
		t.Errorf("an empty password file: %v, %s; want a refusal", err, out)
	}

	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		t.Logf("redis-server is not installed: the configuration is not tried on a real Redis")
		return
	}
	// The seed master's file, with its data in dir (REDIS_DIR), on a Unix
	// socket instead of port 6379.
	cmd = exec.Command(sh, script)
	cmd.Env = []string{"PATH=" + stub + ":/usr/bin:/bin", "REDIS_ANNOUNCE=redis-0", "REDIS_SEED_MASTER=redis-0",
		"REDIS_PASSWORD_FILE=" + pwFile, "REDIS_CONF=" + conf, "REDIS_DIR=" + dir}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-start.sh: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "redis.sock")
	srv := exec.Command(redisServer, conf, "--port", "0", "--unixsocket", sock, "--appendonly", "no")
	var log strings.Builder
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Password: password, MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("redis-server exited on the generated configuration: %v\n%s", waitErr, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not answer PING with the password within 10s: %v\n%s", err, log.String())
		}
		select { // poll again in 20 ms, or stop at once if it exits
		case <-exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
	ctx := t.Context()
	got, err := client.ConfigGet(ctx, "replica-announce-ip").Result()
	if err != nil || got["replica-announce-ip"] != "redis-0" {
		t.Errorf("CONFIG GET replica-announce-ip = %v, %v; want redis-0", got, err)
	}
}
