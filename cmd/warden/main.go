// Command warden keeps Redis highly available: run `warden serve` on three
// or five machines, or `warden demo` for a local sandbox.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"warden/config"
	"warden/raftstore"
	"warden/watchdog"
)

func main() {
	root := &cobra.Command{
		Use:           "warden",
		Short:         "warden keeps Redis highly available: majority-voted failover under a Raft group",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(append([]*cobra.Command{newServeCmd(), newValidateCmd(), newDemoCmd()}, ctlCommands()...)...)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "warden:", err)
		os.Exit(1)
	}
}

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "run one watchdog of the group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--config is required")
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the YAML configuration")
	return cmd
}

func newValidateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "load and validate a configuration file, printing every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--config is required")
			}
			if _, err := config.Load(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the YAML configuration")
	return cmd
}

func newLogger(c config.LogConfig) (*zap.Logger, error) {
	var zc zap.Config
	if c.Format == "json" {
		zc = zap.NewProductionConfig()
	} else {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
		zc.DisableStacktrace = true
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	return zc.Build()
}

func serve(ctx context.Context, cfg config.Config) error {
	lg, err := newLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = lg.Sync() }()
	lg = lg.With(zap.String("watchdog", cfg.ID))
	// go-redis reports every failed dial on its own; warden's prober already
	// logs each change of a node's state, so the library's lines go to debug.
	redis.SetLogger(redisLogger{lg.Named("go-redis")})
	password, err := cfg.Password()
	if err != nil {
		return err
	}
	token, err := cfg.Token()
	if err != nil {
		return err
	}
	// Failpoints are read once, here: nothing else looks at the variable.
	fp, err := watchdog.ParseFailpoints(os.Getenv(watchdog.FailpointsEnv))
	if err != nil {
		return err
	}
	if armed := fp.Armed(); len(armed) > 0 {
		lg.Warn("failpoints armed: this process will exit at them (testing only)", zap.Strings("failpoints", armed))
	}
	node, err := raftstore.Open(cfg, raftstore.NewFSM(), lg.Named("raftstore"), raftstore.Options{})
	if err != nil {
		return err
	}
	svc := watchdog.New(cfg, node, password, token, lg.Named("watchdog"))
	svc.SetFailpoints(fp)
	runErr := svc.Run(ctx)
	if err := node.Close(); err != nil {
		lg.Warn("raft shutdown", zap.Error(err))
	}
	lg.Info("stopped")
	return runErr
}

type redisLogger struct{ l *zap.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...))
}
