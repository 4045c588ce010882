package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"warden/config"
	"warden/raftstore"
	"warden/watchdog"
)

func newPeersCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "list the watchdogs of the Raft group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var p struct {
				Peers    []raftstore.Peer `json:"peers"`
				LeaderID string           `json:"leader_id"`
			}
			return s.call(cmd.Context(), http.MethodGet, "/v1/raft/peers", nil, &p, func(w io.Writer) error { return showPeers(w, p.Peers, p.LeaderID) })
		},
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(newPeersAddCmd(&f), newPeersRemoveCmd(&f))
	return cmd
}

func checkMemberID(id string) error {
	if !config.ValidName(id) {
		return fmt.Errorf("ID %q: may hold only letters, digits, _ . - (at most 64)", id)
	}
	return nil
}

func newPeersAddCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "add ID ADDR",
		Short: "add a watchdog (started with raft.join: true) as a voter; ADDR is its raft address",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, addr := args[0], args[1]
			if err := checkMemberID(id); err != nil {
				return err
			}
			if err := config.ValidateAddr(addr); err != nil {
				return fmt.Errorf("ADDR: %v", err)
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var res struct {
				Changed bool `json:"changed"`
			}
			return s.call(cmd.Context(), http.MethodPost, "/v1/raft/peers", watchdog.PeerRequest{ID: id, Addr: addr}, &res, func(w io.Writer) error {
				msg := "added %s at %s as a voter\n"
				if !res.Changed {
					msg = "%s at %s was a voter already\n"
				}
				_, err := fmt.Fprintf(w, msg, id, addr)
				return err
			})
		},
	}
}

func newPeersRemoveCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "remove a watchdog from the Raft group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkMemberID(args[0]); err != nil {
				return err
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			return s.call(cmd.Context(), http.MethodDelete, pathOf("/v1/raft/peers/", args[0]), nil, nil, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "removed %s from the raft group\n", args[0])
				return err
			})
		},
	}
}

func newTransferCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "transfer-leadership [ID]",
		Short: "hand the Raft leadership to member ID, or to the most up-to-date follower",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			if len(args) == 1 {
				if err := checkMemberID(args[0]); err != nil {
					return err
				}
				body = watchdog.TransferRequest{ID: args[0]}
			}
			s, err := f.session(cmd)
			if err != nil {
				return err
			}
			var res struct {
				From     string `json:"from"`
				LeaderID string `json:"leader_id"`
			}
			return s.call(cmd.Context(), http.MethodPost, "/v1/raft/transfer-leadership", body, &res, func(w io.Writer) error {
				to := res.LeaderID
				if to == "" || to == res.From {
					to = "a new leader (not known yet)"
				}
				_, err := fmt.Fprintf(w, "leadership handed over from %s to %s\n", res.From, to)
				return err
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}
