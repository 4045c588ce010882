package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEventsFollowResumes: -f prints events from the stream and, after the
// server drops the connection, reconnects with Last-Event-ID set to the
// last event printed, so nothing is missed or printed twice.
func TestEventsFollowResumes(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	all := []string{"node_sdown", "node_odown", "failover_started", "master_switched", "failover_completed"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		from, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
		w.Header().Set("Content-Type", "text/event-stream")
		// The first connection breaks after two events; the second serves
		// the rest and stays open.
		upto := len(all)
		if n == 1 {
			upto = 2
		}
		for seq := from + 1; seq <= upto; seq++ {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: {\"seq\":%d,\"kind\":%q,\"severity\":\"info\",\"message\":\"m%d\"}\n\n", seq, all[seq-1], seq, all[seq-1], seq)
		}
		w.(http.Flusher).Flush()
		if n == 1 {
			return
		}
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, errb := &syncWriter{w: &strings.Builder{}}, &syncWriter{w: &strings.Builder{}}
	s := &session{client: &client{base: srv.URL, http: &http.Client{}}, out: out}
	done := make(chan error, 1)
	go func() { done <- followEvents(ctx, s, 0, errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := out.String()
		if strings.Count(got, "\n") >= len(all) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("printed after 10s:\n%s\nstderr: %s", got, errb.String())
		}
		<-time.After(10 * time.Millisecond) // poll
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("followEvents: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, kind := range all {
		if !strings.HasPrefix(lines[i], strconv.Itoa(i+1)+" ") || !strings.Contains(lines[i], kind) {
			t.Fatalf("line %d %q, want event %d %s; all:\n%s", i, lines[i], i+1, kind, out.String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lastIDs) < 2 || lastIDs[0] != "0" || lastIDs[1] != "2" {
		t.Fatalf("Last-Event-ID per connection: %v, want [0 2 ...]", lastIDs)
	}
	if !strings.Contains(errb.String(), "reconnecting after event 2") {
		t.Fatalf("stderr %q", errb.String())
	}
}

// syncWriter lets the test read what another goroutine writes.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
