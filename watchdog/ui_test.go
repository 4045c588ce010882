package watchdog

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// uiTypes are the page's files and their Content-Type.
var uiTypes = map[string]string{
	"/":             "text/html; charset=utf-8",
	"/ui/app.js":    "text/javascript; charset=utf-8",
	"/ui/style.css": "text/css; charset=utf-8",
}

// TestUIPage: GET / and the page's two files are served without the token
// (the API still needs it), with their type, a self-only CSP, no-cache and
// an ETag that answers 304; the page references only files that are served
// and calls only API routes that exist; nothing in it comes from elsewhere
// or is inline (the CSP would block it).
func TestUIPage(t *testing.T) {
	m := newLeader(t, apiToken)
	bodies := map[string]string{}
	for path, ct := range uiTypes {
		t.Run(path, func(t *testing.T) {
			rep := m.serve(httptest.NewRequest("GET", path, nil))
			if rep.code != 200 {
				t.Fatalf("GET %s without a token: %d %s", path, rep.code, rep.body)
			}
			for k, want := range map[string]string{
				"Content-Type":            ct,
				"Content-Security-Policy": uiCSP,
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-cache",
			} {
				if got := rep.header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			bodies[path] = string(rep.body)
			etag := rep.header.Get("ETag")
			if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
				t.Fatalf("ETag %q", etag)
			}
			r := httptest.NewRequest("GET", path, nil)
			r.Header.Set("If-None-Match", etag)
			if rep := m.serve(r); rep.code != http.StatusNotModified || len(rep.body) != 0 {
				t.Errorf("GET %s with If-None-Match %s: %d, %d bytes; want 304 and no body", path, etag, rep.code, len(rep.body))
			}
			if rep := m.serve(httptest.NewRequest("HEAD", path, nil)); rep.code != 200 || len(rep.body) != 0 {
				t.Errorf("HEAD %s: %d, %d bytes", path, rep.code, len(rep.body))
			}
		})
	}
	if t.Failed() {
		return
	}

	t.Run("the page references only what is served", func(t *testing.T) {
		refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(bodies["/"], -1)
		if len(refs) != 2 {
			t.Errorf("index.html references %v, want the script and the style sheet", refs)
		}
		for _, ref := range refs {
			if _, ok := uiTypes["/"+ref[1]]; !ok {
				t.Errorf("index.html references %q, which is not served", ref[1])
			}
		}
		for _, bad := range []string{"<script>", "style=", "onclick=", "onload=", "onsubmit="} {
			if strings.Contains(bodies["/"], bad) {
				t.Errorf("index.html holds %q: inline code or style, which the CSP blocks", bad)
			}
		}
	})
	t.Run("nothing comes from elsewhere", func(t *testing.T) {
		for path, b := range bodies {
			b = strings.ReplaceAll(b, "'http://www.w3.org/2000/svg'", "") // a namespace name
			if strings.Contains(b, "http://") || strings.Contains(b, "https://") || strings.Contains(b, "//cdn") {
				t.Errorf("%s refers to another site; the page must work offline", path)
			}
		}
	})
	t.Run("the page calls existing API routes", func(t *testing.T) {
		api := map[string]bool{}
		for _, rt := range m.s.routes() {
			if rt.method == "GET" && !rt.open {
				api[rt.path] = true
			}
		}
		calls := regexp.MustCompile(`(?:api|fetch)\('([^']*)'`).FindAllStringSubmatch(bodies["/ui/app.js"], -1)
		if len(calls) < 5 {
			t.Fatalf("app.js calls %v; want status, groups, clusters, operations and events", calls)
		}
		for _, c := range calls {
			if !api["/"+c[1]] {
				t.Errorf("app.js calls %q, which is no token-protected GET route", c[1])
			}
		}
	})
	t.Run("the API still needs the token", func(t *testing.T) {
		m.serve(httptest.NewRequest("GET", "/v1/status", nil)).expectError(t, 401, "bearer token")
	})
	t.Run("only the page's own paths", func(t *testing.T) {
		for _, p := range []string{"/index.html", "/ui/", "/ui/nope.js", "/ui/app.js/x", "/app.js"} {
			m.serve(httptest.NewRequest("GET", p, nil)).expectError(t, 404, "no route GET "+p)
		}
		m.rejectsCall(t, "POST", "/", "", 405, "POST /: / takes GET")
	})
}
