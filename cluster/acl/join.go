package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"path"

	"aas/cluster/api"
)

// ErrJoinToken: a join or server-to-server call without the right join
// token (403).
var ErrJoinToken = errors.New("join token missing or wrong")

// JoinGuard checks the cluster's shared join token. The comparison is
// constant-time over SHA-256 digests, so neither the content nor the
// length of the token leaks through timing.
type JoinGuard struct {
	sum [sha256.Size]byte
}

// NewJoinGuard returns a guard for token; it refuses a token shorter than
// MinSecretLen.
func NewJoinGuard(token string) (*JoinGuard, error) {
	if len(token) < MinSecretLen {
		return nil, fmt.Errorf("acl: join token: want at least %d characters, got %d", MinSecretLen, len(token))
	}
	return &JoinGuard{sum: sha256.Sum256([]byte(token))}, nil
}

// Valid reports whether token is the join token (constant-time).
func (g *JoinGuard) Valid(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], g.sum[:]) == 1
}

// Check returns nil when r carries the join token in JoinTokenHeader, and
// a 403 error wrapping ErrJoinToken and ErrPermissionDenied otherwise.
func (g *JoinGuard) Check(r *http.Request) error {
	if g.Valid(r.Header.Get(JoinTokenHeader)) {
		return nil
	}
	return &api.StatusError{Code: http.StatusForbidden, Err: fmt.Errorf("%w: %w", ErrPermissionDenied, ErrJoinToken)}
}

// Wrap guards one handler (for a join endpoint outside the internal
// prefix).
func (g *JoinGuard) Wrap(h api.HandlerFunc) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := g.Check(r); err != nil {
			return nil, err
		}
		return h(w, r)
	}
}

// Protect requires the join token on every request whose path starts with
// one of prefixes (segment-wise) and passes the rest through. It is for
// clusters that use a join token without ACLs; with ACLs, Middleware's
// WithJoinGuard does the same for the internal prefix.
func (g *JoinGuard) Protect(next http.Handler, prefixes ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		for _, pre := range prefixes {
			if hasPrefix(p, pre) {
				if err := g.Check(r); err != nil {
					api.WriteJSON(w, http.StatusForbidden, api.ErrorResponse{Error: err.Error()})
					return
				}
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}
