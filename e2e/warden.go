package e2e

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"warden/config"
)

// Warden is one `warden serve --config FILE` process.
type Warden struct {
	ID         string
	HTTPAddr   string
	RaftAddr   string
	DataDir    string
	ConfigPath string
	LogPath    string
	// API talks to this watchdog's admin API.
	API *Client

	proc *process
	// StartTimeout bounds the wait for the API to answer; default 20s.
	StartTimeout time.Duration
	// Env holds extra environment variables (KEY=VALUE) for the next
	// start or Restart, on top of this process's environment.
	Env []string
}

// StartWarden runs `binary serve --config configPath` with its output
// appended to logPath, and waits until GET /v1/status answers.
func StartWarden(ctx context.Context, binary, configPath, logPath string) (*Warden, error) {
	c, err := config.Load(configPath)
	if err != nil {
		return nil, fmt.Errorf("start warden: %w", err)
	}
	w := &Warden{
		ID:           c.ID,
		HTTPAddr:     c.HTTP.Listen,
		RaftAddr:     c.Raft.Advertise,
		DataDir:      c.DataDir,
		ConfigPath:   configPath,
		LogPath:      logPath,
		API:          NewClient(c.HTTP.Listen),
		StartTimeout: 20 * time.Second,
		proc: &process{
			name:    "warden " + c.ID,
			path:    binary,
			args:    []string{"serve", "--config", configPath},
			logPath: logPath,
		},
	}
	if t := c.HTTP.TLS; t.Enabled() {
		// The harness talks to a TLS API with the member's own key pair.
		cfg, err := ClientTLS(t.CAFile, t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("start warden: http.tls: %w", err)
		}
		w.API = NewClientTLS(c.HTTP.Listen, cfg)
	}
	if w.API.Token, err = c.Token(); err != nil {
		return nil, fmt.Errorf("start warden: %w", err)
	}
	if err := w.start(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Warden) start(ctx context.Context) error {
	w.proc.env = w.Env
	if err := w.proc.start(); err != nil {
		return err
	}
	err := WaitFor(ctx, w.StartTimeout, fmt.Sprintf("warden %s to answer GET /v1/status on %s", w.ID, w.HTTPAddr), func() (bool, error) {
		select {
		case <-w.proc.exited():
			return false, fmt.Errorf("warden exited: %v", w.proc.exitErr())
		default:
		}
		if _, err := w.API.Status(ctx); err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		_ = w.proc.kill()
		return fmt.Errorf("start warden %s: %w\nlast lines of %s:\n%s", w.ID, err, w.LogPath, Tail(w.LogPath, 30))
	}
	return nil
}

// Pid is the current process id (0 before the first start).
func (w *Warden) Pid() int { return w.proc.pid() }

// Running reports whether the process is alive (a paused one is alive).
func (w *Warden) Running() bool { return w.proc.running() }

// Kill sends SIGKILL and waits until the process is reaped.
func (w *Warden) Kill() error { return w.proc.kill() }

// Pause stops the process with SIGSTOP.
func (w *Warden) Pause() error { return w.proc.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (w *Warden) Resume() error { return w.proc.signal(syscall.SIGCONT) }

// Stop asks the watchdog to shut down (SIGTERM; SIGKILL after 10 s).
func (w *Warden) Stop() error { return w.proc.stop(10 * time.Second) }

// Restart starts the watchdog again with the same config and data
// directory (killing it first if it still runs), so its Raft state survives.
func (w *Warden) Restart(ctx context.Context) error {
	if err := w.proc.kill(); err != nil {
		return err
	}
	return w.start(ctx)
}

// Tail returns the last n lines of the watchdog's log.
func (w *Warden) Tail(n int) string { return Tail(w.LogPath, n) }
