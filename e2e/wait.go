package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout is wrapped by WaitFor's error when the deadline passed.
var ErrTimeout = errors.New("timed out")

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 50 * time.Millisecond

// WaitFor polls cond every PollInterval until it returns true, the timeout
// passes or ctx ends. The error names what was awaited and carries the last
// error cond returned, so a failure says both what and why.
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	return WaitEvery(ctx, timeout, PollInterval, what, cond)
}

// WaitEvery is WaitFor with a chosen polling interval.
func WaitEvery(ctx context.Context, timeout, every time.Duration, what string, cond func() (bool, error)) error {
	start := time.Now()
	deadline := start.Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	var last error
	tries := 0
	for {
		select {
		case <-ctx.Done():
			return waitErr(what, time.Since(start), tries, last, ctx.Err())
		case <-t.C:
		}
		tries++
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return waitErr(what, time.Since(start), tries, last, ErrTimeout)
		}
		t.Reset(every)
	}
}

func waitErr(what string, took time.Duration, tries int, last, cause error) error {
	if last != nil {
		return fmt.Errorf("waiting for %s: %w after %v (%d checks); last check: %v", what, cause, took.Round(time.Millisecond), tries, last)
	}
	return fmt.Errorf("waiting for %s: %w after %v (%d checks)", what, cause, took.Round(time.Millisecond), tries)
}
