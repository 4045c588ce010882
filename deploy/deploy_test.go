// Package deploy holds no code: its tests check the deployment material
// beside them (Dockerfile and compose file, Kubernetes manifests, systemd
// unit, example configurations) for consistency, without Docker, a cluster
// or systemd running. Every warden configuration among them goes through
// config.Parse (decoding, ${VAR} expansion and Validate), with the secret
// and certificate files it names made up in a temporary directory.
// kubectl (kustomize), systemd-analyze and redis-server are used when they
// are installed, and those checks are skipped otherwise.
package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"warden/config"
)

// read returns the file at path, relative to deploy/.
func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// yamlDocs decodes every document of a (multi-document) YAML file.
func yamlDocs(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(read(t, path)))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if len(n.Content) > 0 && n.Content[0].Kind != 0 {
			docs = append(docs, &n)
		}
	}
}

// decodeYAML decodes the single document of a YAML file into v.
func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", path, len(docs))
	}
	if err := docs[0].Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// fileKeyRE finds a warden config's *_file keys and their values.
var fileKeyRE = regexp.MustCompile(`(?m)^(\s*(?:- )?(\w+_file):[ \t]*)("[^"]*"|'[^']*'|[^\s#]+)`)

// secretFiles lists the files a warden configuration names (*_file keys),
// each with the key naming it.
func secretFiles(text string) map[string]string {
	files := map[string]string{}
	for _, m := range fileKeyRE.FindAllStringSubmatch(text, -1) {
		if p := strings.Trim(m[3], `"'`); p != "" {
			files[p] = m[2]
		}
	}
	return files
}

// materialize writes a stand-in for every file the configuration text
// names (a key pair and a CA that load for the TLS keys, a secret for the
// others) under a temporary directory, and returns the text with those
// paths moved there: what the configuration is on a machine where its
// files are in place.
func materialize(t *testing.T, text string) string {
	t.Helper()
	root := t.TempDir()
	pki := newPKI(t)
	for p, key := range secretFiles(text) {
		if !filepath.IsAbs(p) {
			t.Errorf("%s %q is not an absolute path: it would depend on the directory warden starts in", key, p)
			continue
		}
		content := "example-secret-" + key + "\n"
		switch key {
		case "cert_file":
			content = pki.cert
		case "key_file":
			content = pki.key
		case "ca_file":
			content = pki.ca
		}
		dst := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fileKeyRE.ReplaceAllStringFunc(text, func(m string) string {
		sub := fileKeyRE.FindStringSubmatch(m)
		p := strings.Trim(sub[3], `"'`)
		if p == "" {
			return m
		}
		return sub[1] + filepath.Join(root, p)
	})
}

// parseWith parses a warden configuration with its files made up and the
// environment variables env set (and unset again after the test).
func parseWith(t *testing.T, text string, env map[string]string) (config.Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.Parse([]byte(materialize(t, text)))
}

var refRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// referencedVars lists the ${NAME} references outside comments.
func referencedVars(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "#"); i == 0 || (i > 0 && (line[i-1] == ' ' || line[i-1] == '\t')) {
			line = line[:i]
		}
		for _, m := range refRE.FindAllStringSubmatch(line, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return names
}

// port returns the port of host:port.
func port(t *testing.T, key, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", key, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s %q: %v", key, addr, err)
	}
	return n
}

// host returns the host of host:port.
func host(t *testing.T, key, addr string) string {
	t.Helper()
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", key, addr, err)
	}
	return h
}

type pki struct{ ca, cert, key string }

// newPKI makes a CA and a certificate it signs, good for both ends of TLS.
func newPKI(t *testing.T) pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "warden example CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "w1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("192.0.2.11"), net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"w1", "redis.example.internal"},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, b []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}))
	}
	return pki{ca: enc("CERTIFICATE", caDER), cert: enc("CERTIFICATE", der), key: enc("EC PRIVATE KEY", keyDER)}
}

func TestMaterializeMovesEveryFileKey(t *testing.T) {
	text := "http:\n  token_file: /etc/warden/api-token   # comment\n  tls:\n    cert_file: \"/etc/warden/tls/w1.crt\"\n" +
		"    key_file: /etc/warden/tls/w1.key\n    ca_file: ''\nwebhooks:\n  - secret_file: /etc/warden/hooks/a.secret\n# token_file: /not/a/key\n"
	want := map[string]string{
		"/etc/warden/api-token": "token_file", "/etc/warden/tls/w1.crt": "cert_file",
		"/etc/warden/tls/w1.key": "key_file", "/etc/warden/hooks/a.secret": "secret_file",
	}
	if got := secretFiles(text); !equalMaps(got, want) {
		t.Fatalf("secretFiles = %v, want %v", got, want)
	}
	out := materialize(t, text)
	for p := range want {
		if strings.Contains(out, " "+p) || strings.Contains(out, `"`+p) {
			t.Errorf("%s was not moved:\n%s", p, out)
		}
	}
	for p := range secretFiles(out) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("materialized file: %v", err)
		}
	}
	if !strings.Contains(out, "# token_file: /not/a/key") || !strings.Contains(out, "ca_file: ''") {
		t.Errorf("a comment or an empty value was changed:\n%s", out)
	}
}

func equalMaps[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// run runs a command, bounded by a minute, and returns its combined output.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// need skips the test when a program is not installed.
func need(t *testing.T, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		t.Skipf("%s is not installed: %v", program, err)
	}
	return p
}
