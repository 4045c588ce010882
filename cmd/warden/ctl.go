package main

// The operator commands (status, groups, failover, maintenance, ack,
// history, peers, transfer-leadership) are thin clients of the admin HTTP
// API of any member: each makes one request and prints the answer as a
// table or, with --json, as the server wrote it.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

const (
	// envAddr and envToken are read when --addr and --token-file are not
	// given; envToken holds the token itself.
	envAddr  = "WARDEN_ADDR"
	envToken = "WARDEN_TOKEN"

	defaultAPIAddr = "http://127.0.0.1:7201"
	defaultTimeout = 10 * time.Second
	// maxAnswer bounds what is read of an answer.
	maxAnswer = 32 << 20
)

// ctlCommands returns every operator command, for the root command.
func ctlCommands() []*cobra.Command {
	return []*cobra.Command{
		newStatusCmd(), newGroupsCmd(), newFailoverCmd(), newMaintenanceCmd(), newAckCmd(),
		newHistoryCmd(), newEventsCmd(), newPeersCmd(), newTransferCmd(), newClusterCmd(), newOperationsCmd(),
	}
}

// apiFlags are the flags every client command takes.
type apiFlags struct {
	addr      string
	tokenFile string
	json      bool
	timeout   time.Duration
	// TLS towards an API served with http.tls.
	caFile, certFile, keyFile string
}

func (f *apiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "", "API of any watchdog, host:port or URL (default $"+envAddr+", else "+defaultAPIAddr+")")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the API bearer token (default: the token in $"+envToken+")")
	fs.BoolVar(&f.json, "json", false, "print the server's JSON answer as it is, indented")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "bound on the request")
	fs.StringVar(&f.caFile, "ca-file", "", "CA that signed the API's certificate (https addresses)")
	fs.StringVar(&f.certFile, "cert-file", "", "client certificate, when the API requires one")
	fs.StringVar(&f.keyFile, "key-file", "", "key of --cert-file")
}

// transport is the HTTP transport, with the TLS the flags ask for.
func (f *apiFlags) transport() (http.RoundTripper, error) {
	if f.caFile == "" && f.certFile == "" && f.keyFile == "" {
		return http.DefaultTransport, nil
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, errors.New("--cert-file and --key-file go together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", f.caFile)
		}
		cfg.RootCAs = pool
	}
	if f.certFile != "" {
		kp, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file/--key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return tr, nil
}

// session checks the flags and the environment and returns the client
// that will make the request; nothing is sent yet.
func (f *apiFlags) session(cmd *cobra.Command) (*session, error) {
	addr, from := f.addr, "--addr"
	if addr == "" {
		addr, from = os.Getenv(envAddr), envAddr
		if addr == "" {
			addr = defaultAPIAddr
		}
	}
	base, err := baseURL(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: must be positive", f.timeout)
	}
	token, err := f.token()
	if err != nil {
		return nil, err
	}
	tr, err := f.transport()
	if err != nil {
		return nil, err
	}
	return &session{
		client: &client{base: base, token: token, http: &http.Client{Timeout: f.timeout, Transport: tr}},
		json:   f.json,
		out:    cmd.OutOrStdout(),
	}, nil
}

func (f *apiFlags) token() (string, error) {
	tok, from := os.Getenv(envToken), envToken
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		tok, from = string(b), "--token-file "+f.tokenFile
		if strings.TrimSpace(tok) == "" {
			return "", fmt.Errorf("%s: the file is empty", from)
		}
	}
	tok = strings.TrimSpace(tok)
	if strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("%s: the token spans several lines", from)
	}
	return tok, nil
}

// baseURL turns host:port or an http(s) URL into "scheme://host:port".
func baseURL(s string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%q %s: want host:port or a URL such as %s", s, why, defaultAPIAddr)
	}
	raw := s
	if !strings.Contains(s, "://") {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "" {
			return "", bad("is not host:port")
		}
		raw = "http://" + s
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", bad("has scheme " + strconv.Quote(u.Scheme))
	}
	if u.Hostname() == "" {
		return "", bad("has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", bad("has port " + strconv.Quote(p))
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", bad("holds more than scheme://host:port")
	}
	return u.Scheme + "://" + u.Host, nil
}

// client makes requests to one member's API.
type client struct {
	base  string // scheme://host:port
	token string
	http  *http.Client
}

// apiError is a non-2xx answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// do sends body (JSON, when not nil) and decodes a 2xx answer into out
// (when not nil); any other answer is an *apiError.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, req.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		return answerError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected (%v): %s", method, req.URL, err, clip(data))
	}
	return nil
}

func answerError(status int, data []byte) error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &env) == nil && env.Error.Message != "" {
		return &apiError{Status: status, Code: env.Error.Code, Message: env.Error.Message}
	}
	msg := clip(data)
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &apiError{Status: status, Message: msg}
}

// clip returns the start of an answer, on one line, for an error message.
func clip(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// session is one command's client and where its output goes.
type session struct {
	client *client
	json   bool
	out    io.Writer
}

// fetch makes the request and decodes the answer into out, returning it
// as the server wrote it too.
func (s *session) fetch(ctx context.Context, method, path string, body, out any) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := s.client.do(ctx, method, path, body, &raw); err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
		}
	}
	return raw, nil
}

// print writes the answer: as JSON with --json, else through show.
func (s *session) print(raw json.RawMessage, show func(io.Writer) error) error {
	if s.json {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := s.out.Write(b.Bytes())
		return err
	}
	return show(s.out)
}

// call is fetch then print.
func (s *session) call(ctx context.Context, method, path string, body, out any, show func(io.Writer) error) error {
	raw, err := s.fetch(ctx, method, path, body, out)
	if err != nil {
		return err
	}
	return s.print(raw, show)
}

// startProgress shows a spinner with the elapsed time on w while a long
// call runs, when w is a terminal. The returned func clears it.
func startProgress(w io.Writer, what string) (stop func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)
	return func() { _ = bar.Finish() }
}

// table writes aligned columns; trailing blanks are trimmed on flush.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	t.row(strAny(header)...)
	return t
}

func strAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// row adds a line; an empty cell is shown as "-".
func (t *table) row(cells ...any) {
	for i, c := range cells {
		s := fmt.Sprint(c)
		if s == "" {
			s = "-"
		}
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, s)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line == "" {
			continue
		}
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// fields writes "key: value" lines with the values aligned.
func fields(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
		}
	}
	return tw.Flush()
}

// when formats a time for tables: UTC, to the second; "" for zero.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ms formats milliseconds: 0.4ms, 12.3ms, 1.204s.
func ms(v float64) string {
	if v < 1000 {
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	}
	return time.Duration(v * float64(time.Millisecond)).Round(time.Millisecond).String()
}

// pathOf builds an API path from fixed parts and escaped names.
func pathOf(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			p = url.PathEscape(p)
		}
		b.WriteString(p)
	}
	return b.String()
}
