package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"warden/raftstore"
)

type eventsFlags struct {
	apiFlags
	since  uint64
	limit  int
	follow bool
}

func newEventsCmd() *cobra.Command {
	var f eventsFlags
	cmd := &cobra.Command{
		Use:   "events [--since SEQ] [-f]",
		Short: "print the event log; with -f, follow it live (Server-Sent Events), resuming after a lost connection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("limit") && (f.limit < 1 || f.limit > 10000) {
				return fmt.Errorf("--limit %d: must be from 1 to 10000", f.limit)
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			if f.follow {
				return followEvents(cmd.Context(), s, f.since, cmd.ErrOrStderr())
			}
			q := url.Values{"since": {strconv.FormatUint(f.since, 10)}}
			if f.limit > 0 {
				q.Set("limit", strconv.Itoa(f.limit))
			}
			var ans struct {
				Events []raftstore.Event `json:"events"`
			}
			return s.call(cmd.Context(), http.MethodGet, "/v1/events?"+q.Encode(), nil, &ans, func(w io.Writer) error {
				t := newTable(w, "SEQ", "TIME", "SEVERITY", "KIND", "GROUP", "NODE", "MESSAGE")
				for _, e := range ans.Events {
					t.row(e.Seq, when(e.At), e.Severity, e.Kind, e.Group, e.Node, e.Message)
				}
				return t.flush()
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().Uint64Var(&f.since, "since", 0, "only events after this sequence number")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "at most this many events (default: the server's, 1000)")
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "keep printing events as they happen (Ctrl-C stops)")
	return cmd
}

// followEvents streams events until ctx ends, reconnecting after a lost
// connection from the last event seen (Last-Event-ID), so nothing still
// retained is missed.
func followEvents(ctx context.Context, s *session, since uint64, errw io.Writer) error {
	stream := &http.Client{Transport: s.client.http.Transport} // no overall timeout: a stream lasts
	for {
		last, err := streamOnce(ctx, s, stream, since)
		if last > since {
			since = last
		}
		if ctx.Err() != nil {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable {
			return err
		}
		fmt.Fprintf(errw, "warden: event stream interrupted (%v); reconnecting after event %d\n", err, since)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func streamOnce(ctx context.Context, s *session, hc *http.Client, since uint64) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.client.base+"/v1/events", nil)
	if err != nil {
		return since, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatUint(since, 10))
	if s.client.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.client.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return since, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		return since, answerError(resp.StatusCode, data)
	}
	var data strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		case line == "" && data.Len() > 0:
			var e raftstore.Event
			if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
				return since, fmt.Errorf("event stream: %w", err)
			}
			if s.json {
				fmt.Fprintln(s.out, data.String())
			} else {
				fmt.Fprintf(s.out, "%d  %s  %-8s  %-22s %s %s %s\n", e.Seq, when(e.At), e.Severity, e.Kind, e.Group, e.Node, e.Message)
			}
			data.Reset()
			since = e.Seq
		}
	}
	if err := sc.Err(); err != nil {
		return since, err
	}
	return since, io.ErrUnexpectedEOF
}
