package codec

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"go.temporal.io/sdk/converter"
)

// HTTPOptions configure NewHTTPHandler.
type HTTPOptions struct {
	// Origin is the one browser origin (scheme://host:port of the Temporal
	// Web UI) that gets CORS headers; empty allows no cross-origin use.
	Origin string
	// AuthToken, when set, must come as "Authorization: Bearer <token>"
	// on every POST.
	AuthToken string
	// MaxBodyBytes caps a request body (default 16 MiB).
	MaxBodyBytes int64
}

// NewHTTPHandler serves the Temporal remote codec protocol (POST /encode,
// POST /decode, JSON Payloads in and out) for c, as the Web UI's codec
// endpoint expects: CORS for opts.Origin only (preflights answered without
// authentication, as browsers send them without credentials) and a bearer
// token when opts.AuthToken is set.
func NewHTTPHandler(c converter.PayloadCodec, opts HTTPOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = 16 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && opts.Origin != "" && origin == opts.Origin
		w.Header().Add("Vary", "Origin")
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions {
			if !allowed {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost || (r.URL.Path != "/encode" && r.URL.Path != "/decode") {
			http.NotFound(w, r)
			return
		}
		if opts.AuthToken != "" && !validBearer(r.Header.Get("Authorization"), opts.AuthToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="clvflow codec"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		inner.ServeHTTP(w, r)
	})
}

func validBearer(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}
