package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of one TLS endpoint.
type TLSFiles struct {
	// CertFile and KeyFile: this side's certificate and key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile: the CA that signs the other side's certificate (for a server,
	// the clients' CA: mutual TLS).
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether any file is set.
func (t TLSFiles) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" }

// RedisTLS is TLS towards the Redis nodes.
type RedisTLS struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

func (t TLSFiles) validate(key string, needCert, needCA bool, bad func(string, ...any)) {
	if !t.Enabled() {
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("%s: cert_file and key_file go together", key)
	}
	if needCert && t.CertFile == "" {
		bad("%s.cert_file and %s.key_file are required", key, key)
	}
	if needCA && t.CAFile == "" {
		bad("%s.ca_file is required", key)
	}
	for _, f := range []struct{ name, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad("%s.%s: %v", key, f.name, err)
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			bad("%s: cannot load the key pair: %v", key, err)
		}
	}
	if t.CAFile != "" {
		if _, err := loadPool(t.CAFile); err != nil {
			bad("%s.ca_file: %v", key, err)
		}
	}
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}

// HTTPServerTLS is the API's TLS configuration (nil when off). With
// http.tls.ca_file set, clients must present a certificate it signed.
func (c *Config) HTTPServerTLS() (*tls.Config, error) {
	t := c.HTTP.TLS
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("http.tls: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("http.tls.ca_file: %w", err)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// RaftTLS returns the server and client sides of the members' mutual TLS
// (both nil when raft.tls is off).
func (c *Config) RaftTLS() (server, client *tls.Config, err error) {
	t := c.Raft.TLS
	if !t.Enabled() {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("raft.tls: %w", err)
	}
	pool, err := loadPool(t.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("raft.tls.ca_file: %w", err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

// RedisClientTLS is the TLS configuration towards Redis (nil when off).
func (c *Config) RedisClientTLS() (*tls.Config, error) {
	t := c.Redis.TLS
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
