package watchdog

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"time"

	"go.uber.org/zap"

	"warden/config"
	"warden/raftstore"
)

// Webhook headers.
const (
	HeaderEventID   = "X-Warden-Event-Id"
	HeaderTimestamp = "X-Warden-Timestamp"
	HeaderSignature = "X-Warden-Signature"
)

// Sign returns the signature header value of body sent at timestamp:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Matches reports whether kind passes the hook's event globs (no globs:
// every kind).
func Matches(globs []string, kind string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, kind); ok {
			return true
		}
	}
	return false
}

// Backoff is the wait before retry n (0-based): exponential from base,
// capped, with full jitter (a uniform draw in [d/2, d]).
func Backoff(n int, base, limit time.Duration, rnd func(int64) int64) time.Duration {
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	if d > limit {
		d = limit
	}
	half := int64(d / 2)
	return time.Duration(half + rnd(half+1))
}

// Payload renders an event in the hook's format.
func Payload(format string, e raftstore.Event) ([]byte, error) {
	if format == "slack" {
		text := fmt.Sprintf("[%s] %s", e.Severity, e.Kind)
		if e.Group != "" {
			text += " " + e.Group
		}
		text += ": " + e.Message
		return json.Marshal(map[string]string{"text": text})
	}
	return json.Marshal(e)
}

// errPermanent marks a delivery not worth retrying (a 4xx other than 429).
var errPermanent = errors.New("refused by the receiver")

// hookStatus is what GET /v1/status shows of a hook on the leader.
type hookStatus struct {
	Name      string    `json:"name"`
	Cursor    uint64    `json:"delivered_through"`
	Pending   int       `json:"pending"`
	LastError string    `json:"last_error,omitempty"`
	LastOK    time.Time `json:"last_ok,omitempty"`
	Failed    int       `json:"given_up"`
}

// runWebhook delivers hook h's events, in order and at least once, while
// this member leads. Its cursor lives in Raft, so the next leader resumes
// where this one stopped.
func (s *Service) runWebhook(ctx context.Context, h config.WebhookConfig) {
	lg := s.log.With(zap.String("webhook", h.Name))
	secret, err := h.Secret()
	if err != nil {
		lg.Error("webhook disabled: cannot read its secret", zap.Error(err))
		s.setHook(h.Name, func(st *hookStatus) { st.LastError = err.Error() })
		return
	}
	client := &http.Client{Timeout: h.Timeout.D()}
	if _, ok := s.fsm.HookCursor(h.Name); !ok {
		// A new hook starts with the events from now on, not the backlog.
		if err := s.node.Apply(ctx, &raftstore.HookCursor{Hook: h.Name, Seq: s.fsm.LastEventSeq(), At: time.Now()}); err != nil {
			lg.Warn("initialise webhook cursor", zap.Error(err))
			return
		}
	}
	for {
		changed := s.fsm.Changed()
		cursor, _ := s.fsm.HookCursor(h.Name)
		events, oldest := s.fsm.EventsSince(cursor, 64)
		if oldest > cursor+1 && cursor > 0 {
			lg.Warn("events were trimmed before delivery", zap.Uint64("from", cursor+1), zap.Uint64("to", oldest-1))
		}
		s.setHook(h.Name, func(st *hookStatus) { st.Cursor, st.Pending = cursor, len(events) })
		if len(events) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		moved := cursor
		advance := func(seq uint64) bool {
			if seq <= moved {
				return true
			}
			if err := s.node.Apply(ctx, &raftstore.HookCursor{Hook: h.Name, Seq: seq, At: time.Now()}); err != nil {
				if ctx.Err() == nil {
					lg.Warn("move webhook cursor", zap.Error(err))
				}
				return false
			}
			moved = seq
			return true
		}
		for _, e := range events {
			if !Matches(h.Events, e.Kind) || (e.Kind == raftstore.EvWebhookFailed && e.Details["webhook"] == h.Name) {
				continue // skipped events move the cursor with the next delivery or the batch's end
			}
			if err := s.deliver1(ctx, client, h, secret, e, lg); err != nil {
				if ctx.Err() != nil {
					return
				}
				lg.Error("webhook gave up on an event", zap.Uint64("event", e.Seq), zap.String("kind", e.Kind), zap.Error(err))
				s.metrics.webhookFailed.WithLabelValues(h.Name).Inc()
				s.setHook(h.Name, func(st *hookStatus) { st.Failed++; st.LastError = err.Error() })
				ev := raftstore.Event{
					Kind: raftstore.EvWebhookFailed, Severity: raftstore.SeverityCritical, Group: e.Group,
					Message: fmt.Sprintf("webhook %s gave up on event %d (%s): %v", h.Name, e.Seq, e.Kind, err),
					Details: map[string]string{"webhook": h.Name, "event": strconv.FormatUint(e.Seq, 10), "error": err.Error()},
				}
				if aerr := s.node.Apply(ctx, &raftstore.Events{Events: []raftstore.Event{ev}, At: time.Now()}); aerr != nil {
					lg.Warn("record webhook_failed", zap.Error(aerr))
				}
			}
			if !advance(e.Seq) {
				return
			}
		}
		if !advance(events[len(events)-1].Seq) {
			return
		}
	}
}

// deliver1 posts one event until it is accepted, refused for good, or too
// old.
func (s *Service) deliver1(ctx context.Context, client *http.Client, h config.WebhookConfig, secret string, e raftstore.Event, lg *zap.Logger) error {
	body, err := Payload(h.Format, e)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := post(ctx, client, h.URL, secret, strconv.FormatUint(e.Seq, 10), body)
		if err == nil {
			s.metrics.webhookDeliveries.WithLabelValues(h.Name, "ok").Inc()
			s.setHook(h.Name, func(st *hookStatus) { st.LastOK, st.LastError = time.Now(), "" })
			return nil
		}
		s.metrics.webhookDeliveries.WithLabelValues(h.Name, "error").Inc()
		s.setHook(h.Name, func(st *hookStatus) { st.LastError = err.Error() })
		if errors.Is(err, errPermanent) {
			return err
		}
		// Since this member applied the event, by its own clock: e.At is a
		// wall-clock stamp that a clock jump could age at once.
		if raftstore.Elapsed(e.Recorded(), time.Now()) > h.GiveUpAfter.D() {
			return fmt.Errorf("still failing %s after the event: %w", h.GiveUpAfter.D(), err)
		}
		wait := Backoff(attempt, 100*time.Millisecond, 30*time.Second, rand.Int64N)
		lg.Info("webhook delivery failed; retrying", zap.Uint64("event", e.Seq), zap.Int("attempt", attempt+1), zap.Duration("in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func post(ctx context.Context, client *http.Client, url, secret, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "warden")
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: HTTP %d", errPermanent, resp.StatusCode)
	}
}

func (s *Service) setHook(name string, f func(*hookStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.hooks[name]
	if !ok {
		st = &hookStatus{Name: name}
		s.hooks[name] = st
	}
	f(st)
}
