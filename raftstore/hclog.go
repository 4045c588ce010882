package raftstore

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHCLog lets hashicorp/raft log through zap.
type zapHCLog struct {
	z    *zap.Logger
	name string
	args []any
}

// NewHCLogger adapts a zap logger to hclog.Logger.
func NewHCLogger(z *zap.Logger) hclog.Logger { return &zapHCLog{z: z} }

func (l *zapHCLog) fields(args []any) []zap.Field {
	all := append(append([]any(nil), l.args...), args...)
	fs := make([]zap.Field, 0, len(all)/2+1)
	for i := 0; i < len(all); i += 2 {
		key, ok := all[i].(string)
		if !ok {
			key = fmt.Sprint(all[i])
		}
		if i+1 >= len(all) {
			fs = append(fs, zap.Any("extra", all[i]))
			break
		}
		switch v := all[i+1].(type) {
		case error:
			fs = append(fs, zap.NamedError(key, v))
		case hclog.Format:
			fs = append(fs, zap.String(key, fmt.Sprintf(v[0].(string), v[1:]...)))
		default:
			fs = append(fs, zap.Any(key, v))
		}
	}
	return fs
}

func (l *zapHCLog) Log(level hclog.Level, msg string, args ...any) {
	switch level {
	case hclog.Trace, hclog.Debug:
		l.Debug(msg, args...)
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		l.Info(msg, args...)
	case hclog.Warn:
		l.Warn(msg, args...)
	default:
		l.Error(msg, args...)
	}
}

func (l *zapHCLog) Trace(msg string, args ...any) {}
func (l *zapHCLog) Debug(msg string, args ...any) { l.z.Debug(msg, l.fields(args)...) }
func (l *zapHCLog) Info(msg string, args ...any)  { l.z.Info(msg, l.fields(args)...) }
func (l *zapHCLog) Warn(msg string, args ...any)  { l.z.Warn(msg, l.fields(args)...) }
func (l *zapHCLog) Error(msg string, args ...any) { l.z.Error(msg, l.fields(args)...) }
func (l *zapHCLog) IsTrace() bool                 { return false }
func (l *zapHCLog) IsDebug() bool                 { return l.z.Core().Enabled(zapcore.DebugLevel) }
func (l *zapHCLog) IsInfo() bool                  { return l.z.Core().Enabled(zapcore.InfoLevel) }
func (l *zapHCLog) IsWarn() bool                  { return l.z.Core().Enabled(zapcore.WarnLevel) }
func (l *zapHCLog) IsError() bool                 { return l.z.Core().Enabled(zapcore.ErrorLevel) }
func (l *zapHCLog) ImpliedArgs() []any            { return l.args }
func (l *zapHCLog) With(args ...any) hclog.Logger {
	return &zapHCLog{z: l.z, name: l.name, args: append(append([]any(nil), l.args...), args...)}
}
func (l *zapHCLog) Name() string { return l.name }
func (l *zapHCLog) Named(name string) hclog.Logger {
	n := name
	if l.name != "" {
		n = l.name + "." + name
	}
	return &zapHCLog{z: l.z.Named(name), name: n, args: l.args}
}
func (l *zapHCLog) ResetNamed(name string) hclog.Logger {
	return &zapHCLog{z: l.z.Named(name), name: name, args: l.args}
}
func (l *zapHCLog) SetLevel(hclog.Level) {}
func (l *zapHCLog) GetLevel() hclog.Level {
	switch {
	case l.IsDebug():
		return hclog.Debug
	case l.IsInfo():
		return hclog.Info
	case l.IsWarn():
		return hclog.Warn
	default:
		return hclog.Error
	}
}
func (l *zapHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}
func (l *zapHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return stdWriter{l} }

type stdWriter struct{ l *zapHCLog }

func (w stdWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	switch {
	case strings.HasPrefix(msg, "[ERR]"), strings.HasPrefix(msg, "[ERROR]"):
		w.l.Error(msg)
	case strings.HasPrefix(msg, "[WARN]"):
		w.l.Warn(msg)
	case strings.HasPrefix(msg, "[DEBUG]"), strings.HasPrefix(msg, "[TRACE]"):
		w.l.Debug(msg)
	default:
		w.l.Info(msg)
	}
	return len(p), nil
}
