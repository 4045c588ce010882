package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"warden/config"
	"warden/raftstore"
	"warden/watchdog"
)

type maintenanceFlags struct {
	apiFlags
	reason string
	until  string
	dur    time.Duration
}

// body checks ADDR on|off and the flags and returns the
// request's address and body.
func (f *maintenanceFlags) body(cmd *cobra.Command, args []string, now time.Time) (string, watchdog.MaintenanceRequest, error) {
	var q watchdog.MaintenanceRequest
	addr, word := args[0], args[1]
	if err := config.ValidateAddr(addr); err != nil {
		return "", q, fmt.Errorf("ADDR: %v", err)
	}
	var on bool
	switch word {
	case "on":
		on = true
	case "off":
	default:
		return "", q, fmt.Errorf("%q after ADDR: want on or off", word)
	}
	hasUntil, hasFor := cmd.Flags().Changed("until"), cmd.Flags().Changed("for")
	switch {
	case hasUntil && hasFor:
		return "", q, errors.New("--until and --for: give one or the other")
	case !on && (hasUntil || hasFor):
		return "", q, errors.New("--until and --for go with on")
	case hasUntil:
		u, err := time.Parse(time.RFC3339, f.until)
		if err != nil {
			return "", q, fmt.Errorf("--until %q is not an RFC3339 time (e.g. 2026-01-02T15:04:05Z)", f.until)
		}
		q.Until = u.Format(time.RFC3339)
	case hasFor:
		if f.dur <= 0 {
			return "", q, fmt.Errorf("--for %v: must be positive", f.dur)
		}
		q.Until = now.Add(f.dur).UTC().Format(time.RFC3339)
	}
	q.On, q.Reason = &on, f.reason
	return addr, q, nil
}

func newMaintenanceCmd() *cobra.Command {
	var f maintenanceFlags
	cmd := &cobra.Command{
		Use:   "maintenance [ADDR on|off] [--reason R] [--until RFC3339 | --for 30m]",
		Short: "list the nodes in maintenance, or put a node in or out of maintenance",
		Long: `A node in maintenance is never promoted; a master in maintenance is not
failed over. Without arguments, lists the nodes in maintenance. A window
lasts until --until, for --for, or one hour.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return fmt.Errorf("want ADDR on|off, or no argument to list the nodes in maintenance; got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				for _, fl := range []string{"reason", "until", "for"} {
					if cmd.Flags().Changed(fl) {
						return fmt.Errorf("--%s goes with ADDR on|off", fl)
					}
				}
				s, err := f.session(cmd)
				if err != nil {
					return err
				}
				var m struct {
					Maintenance map[string]raftstore.NodeMaintenance `json:"maintenance"`
				}
				return s.call(cmd.Context(), http.MethodGet, "/v1/maintenance", nil, &m, func(w io.Writer) error { return showMaintenance(w, m.Maintenance) })
			}
			addr, q, err := f.body(cmd, args, time.Now())
			if err != nil {
				return err
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var res struct {
				Node   string    `json:"node"`
				Group  string    `json:"group"`
				On     bool      `json:"on"`
				Until  time.Time `json:"until"`
				Reason string    `json:"reason"`
			}
			return s.call(cmd.Context(), http.MethodPost, pathOf("/v1/nodes/", addr, "/maintenance"), q, &res, func(w io.Writer) error {
				if !res.On {
					_, err := fmt.Fprintf(w, "%s (group %s) is out of maintenance\n", res.Node, res.Group)
					return err
				}
				_, err := fmt.Fprintf(w, "%s (group %s) is in maintenance until %s\n", res.Node, res.Group, when(res.Until))
				return err
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, for the history")
	cmd.Flags().StringVar(&f.until, "until", "", "end of the window, RFC3339 (2026-01-02T15:04:05Z)")
	cmd.Flags().DurationVar(&f.dur, "for", 0, "length of the window (30m, 2h)")
	return cmd
}

func showMaintenance(w io.Writer, m map[string]raftstore.NodeMaintenance) error {
	if len(m) == 0 {
		_, err := fmt.Fprintln(w, "no node is in maintenance")
		return err
	}
	nodes := make([]string, 0, len(m))
	for n := range m {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	t := newTable(w, "NODE", "UNTIL", "SINCE", "BY", "REASON")
	for _, n := range nodes {
		e := m[n]
		t.row(n, when(e.Until), when(e.Since), e.By, e.Reason)
	}
	return t.flush()
}

type historyFlags struct {
	apiFlags
	group string
	limit int
}

func newHistoryCmd() *cobra.Command {
	var f historyFlags
	cmd := &cobra.Command{
		Use:   "history [--group G] [--limit N]",
		Short: "show the audit history: failovers, refusals, re-attachments, maintenance, acks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if f.group != "" {
				q.Set("group", f.group)
			}
			if cmd.Flags().Changed("limit") {
				if f.limit < 1 {
					return fmt.Errorf("--limit %d: must be at least 1", f.limit)
				}
				q.Set("limit", strconv.Itoa(f.limit))
			}
			path := "/v1/history"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var h struct {
				History []raftstore.Entry `json:"history"`
			}
			return s.call(cmd.Context(), http.MethodGet, path, nil, &h, func(w io.Writer) error { return showHistory(w, h.History) })
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.group, "group", "", "only this group's entries")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "at most this many entries, the newest (default: the server's, 100)")
	return cmd
}

func showHistory(w io.Writer, es []raftstore.Entry) error {
	if len(es) == 0 {
		_, err := fmt.Fprintln(w, "no history")
		return err
	}
	t := newTable(w, "SEQ", "TIME", "KIND", "GROUP", "NODE", "MESSAGE")
	for _, e := range es {
		t.row(e.Seq, when(e.At), e.Kind, e.Group, e.Node, e.Message)
	}
	return t.flush()
}
