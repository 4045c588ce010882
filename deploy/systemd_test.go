package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "systemd/warden.service"

// unit is a systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is no key=value in a section", unitFile, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last is the value in force: the last assignment of key.
func (u unit) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, read(t, unitFile))
	want := map[string]string{
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"NoNewPrivileges":        "yes",
		"StateDirectory":         "warden",
		"ConfigurationDirectory": "warden",
		"Restart":                "on-failure",
		"ExecStart":              "/usr/local/bin/warden serve --config /etc/warden/warden.yaml",
		"ExecStartPre":           "/usr/local/bin/warden validate --config /etc/warden/warden.yaml",
		"CapabilityBoundingSet":  "",
	}
	for k, v := range want {
		if _, set := u["Service"][k]; !set || u.last("Service", k) != v {
			t.Errorf("[Service] %s=%q, want %q", k, u.last("Service", k), v)
		}
	}
	if n, err := strconv.Atoi(u.last("Service", "LimitNOFILE")); err != nil || n < 4096 {
		t.Errorf("[Service] LimitNOFILE=%q, want a number of at least 4096", u.last("Service", "LimitNOFILE"))
	}
	if u.last("Install", "WantedBy") != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q, want multi-user.target", u.last("Install", "WantedBy"))
	}

	// The user: either systemd's own (DynamicUser) or the one warden.sysusers creates.
	if u.last("Service", "DynamicUser") != "yes" {
		user := u.last("Service", "User")
		if user == "" || user == "root" {
			t.Fatalf("[Service] User=%q: want a user of its own", user)
		}
		found := false
		for _, line := range strings.Split(read(t, "systemd/warden.sysusers"), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "u" && f[1] == user {
				found = true
			}
		}
		if !found {
			t.Errorf("systemd/warden.sysusers does not create the user %s", user)
		}
	}

	// The examples are written for this unit: state and files where the unit
	// puts and allows them.
	stateDir := "/var/lib/" + u.last("Service", "StateDirectory")
	confDir := "/etc/" + u.last("Service", "ConfigurationDirectory")
	for _, f := range exampleFiles(t) {
		text := read(t, f)
		for p, key := range secretFiles(text) {
			if !strings.HasPrefix(p, confDir+"/") {
				t.Errorf("%s: %s %s is not under %s, the unit's ConfigurationDirectory", f, key, p, confDir)
			}
		}
		if !strings.Contains(text, "\ndata_dir: "+stateDir) {
			t.Errorf("%s: data_dir is not %s, the unit's StateDirectory", f, stateDir)
		}
	}
}

// TestSystemdAnalyze runs systemd-analyze verify on the unit (and security,
// where systemd has --offline). verify insists that ExecStart's binary
// exists: a copy of the unit points at an executable that does (this
// test's own binary); nothing else changes.
func TestSystemdAnalyze(t *testing.T) {
	analyze := need(t, "systemd-analyze")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := read(t, unitFile)
	if !strings.Contains(text, "/usr/local/bin/warden ") {
		t.Fatalf("%s does not run /usr/local/bin/warden", unitFile)
	}
	write := func(text string) string {
		p := filepath.Join(t.TempDir(), "warden.service")
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "/usr/local/bin/warden ", exe+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	out, err := run(t, analyze, "verify", "--man=no", write(text))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check is worth something only if it speaks up.
	broken := strings.Replace(text, "[Service]\n", "[Service]\nProtectSytem=yes\n", 1)
	if out, _ := run(t, analyze, "verify", "--man=no", write(broken)); !strings.Contains(out, "ProtectSytem") {
		t.Errorf("systemd-analyze verify did not report a misspelt key:\n%s", out)
	}

	out, err = run(t, analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", write(text))
	switch {
	case strings.Contains(out, "unrecognized option") || strings.Contains(out, "unknown option"):
		t.Logf("systemd-analyze security --offline is not available here: %s", strings.TrimSpace(out))
	case err != nil:
		t.Errorf("systemd-analyze security: exposure above 2.0 (or an error): %v\n%s", err, out)
	}
}

func TestSystemdReadme(t *testing.T) {
	doc := read(t, "systemd/README.md")
	u := parseUnit(t, read(t, unitFile))
	for _, s := range []string{"warden.sysusers", "systemctl enable --now warden", "journalctl -u warden", "/etc/warden/warden.yaml"} {
		if !strings.Contains(doc, s) {
			t.Errorf("systemd/README.md does not mention %q", s)
		}
	}
	for _, k := range []string{"StateDirectory", "ConfigurationDirectory"} {
		if !strings.Contains(doc, k) {
			t.Errorf("systemd/README.md does not explain %s=%s", k, u.last("Service", k))
		}
	}
}
