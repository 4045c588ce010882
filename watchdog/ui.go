package watchdog

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// uiFiles is the operator's page (watchdog/ui): plain HTML, CSS and
// JavaScript, embedded in the binary, with nothing loaded from elsewhere,
// so it works offline. The page itself holds no data: every API call it
// makes carries the token the operator enters.
//
//go:embed ui/index.html ui/app.js ui/style.css
var uiFiles embed.FS

// uiCSP lets the page use nothing but its own origin: its script and style
// files, and fetch() to the member that served it. No inline script or
// style, no frame, no form posted elsewhere.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// serveUI serves one file of the page. The browser revalidates on every
// load (no-cache) and gets 304 while the content's ETag matches, so a new
// binary's page is used at once and an unchanged one is not sent again.
func serveUI(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := uiFiles.ReadFile("ui/" + name)
		if err != nil {
			writeError(w, fmt.Errorf("page file %s: %w", name, err))
			return
		}
		sum := sha256.Sum256(b)
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Content-Security-Policy", uiCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	}
}
