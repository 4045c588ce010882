package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClusterFixCommand(t *testing.T) {
	var method, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path = r.Method, r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"cluster":"main","closed_slots":["12582: importing mark cleared on 10.0.0.2:7000"],"covered_slots":["16000-16002 -> 10.0.0.3:7000"],"moved_keys":4}`))
	}))
	defer srv.Close()
	out, _, err := runCtl(t, "cluster", "fix", "main", "--addr", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if method != "POST" || path != "/v1/clusters/main/fix" {
		t.Fatalf("request %s %s", method, path)
	}
	for _, want := range []string{"1 open slots closed, 1 slot ranges covered, 4 keys moved", "12582: importing mark cleared", "16000-16002 -> 10.0.0.3:7000"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := runCtl(t, "cluster", "fix", "--addr", srv.URL); err == nil {
		t.Fatal("fix without a cluster name was accepted")
	}
}
