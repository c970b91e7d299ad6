package acl

import (
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/hashicorp/go-hclog"

	"aas/cluster/api"
)

// Policy says which requests need which kind of credential. Everything not
// listed needs a management token (deny by default).
type Policy struct {
	// Open paths (exact match) need no token: health and readiness checks
	// of load balancers and orchestrators.
	Open []string
	// OpenPrefixes (segment-wise) need no token either: the dashboard's
	// static files. The dashboard's data comes from token-checked APIs.
	OpenPrefixes []string
	// TenantPrefixes are path prefixes (segment-wise) a tenant token may
	// call; the handlers there must call Authorize / Visible with the
	// tenant they touch.
	TenantPrefixes []string
	// ReadPrefixes are path prefixes any valid token may GET (cluster
	// status: leader, peers).
	ReadPrefixes []string
	// InternalPrefix marks server-to-server calls (forwarded writes,
	// identity exchange, add-voter). With a JoinGuard they are
	// authenticated by the join token instead of an ACL token; without
	// one they need a management token.
	InternalPrefix string
}

// DefaultPolicy is the policy of the aas HTTP API.
func DefaultPolicy() Policy {
	return Policy{
		Open:         []string{"/readyz", "/v1/health", "/", "/ui", "/ui/"},
		OpenPrefixes: []string{"/ui/assets"},
		TenantPrefixes: []string{"/v1/tenants", "/v1/groups", "/v1/instances", "/v1/activity",
			"/v1/metrics/export", "/v1/acl/token/self"},
		ReadPrefixes:   []string{"/v1/status"},
		InternalPrefix: "/v1/internal",
	}
}

// Option configures Middleware.
type Option func(*middleware)

// WithPolicy replaces DefaultPolicy.
func WithPolicy(p Policy) Option { return func(m *middleware) { m.policy = p } }

// WithLogger logs denials (accessor IDs only, never secrets).
func WithLogger(l hclog.Logger) Option { return func(m *middleware) { m.log = l } }

// WithJoinGuard authenticates the internal prefix with the join token.
func WithJoinGuard(g *JoinGuard) Option { return func(m *middleware) { m.join = g } }

type middleware struct {
	resolver Resolver
	next     http.Handler
	policy   Policy
	join     *JoinGuard
	log      hclog.Logger
}

// Middleware wraps the API handler with ACL checks: it reads the token
// (X-Aas-Token or Authorization: Bearer), resolves it, applies the policy
// (403 for no token, an unknown token, or a scope the path does not
// allow) and passes the Identity on in the request context.
func Middleware(resolver Resolver, next http.Handler, opts ...Option) http.Handler {
	m := &middleware{resolver: resolver, next: next, policy: DefaultPolicy(), log: hclog.NewNullLogger()}
	for _, o := range opts {
		o(m)
	}
	m.log = m.log.Named("acl")
	return m
}

// TokenFromRequest returns the token secret of a request ("" for none).
func TokenFromRequest(r *http.Request) string {
	if t := r.Header.Get(TokenHeader); t != "" {
		return t
	}
	auth := r.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := path.Clean("/" + r.URL.Path)
	for _, open := range m.policy.Open {
		if p == open && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.next.ServeHTTP(w, r)
			return
		}
	}
	for _, open := range m.policy.OpenPrefixes {
		if hasPrefix(p, open) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.next.ServeHTTP(w, r)
			return
		}
	}
	if m.join != nil {
		internal := m.policy.InternalPrefix != "" && hasPrefix(p, m.policy.InternalPrefix)
		// A request carrying the join token comes from a server (e.g. a
		// follower forwarding "remove peer" to the leader); on internal
		// paths the join token is the only credential accepted.
		if internal || r.Header.Get(JoinTokenHeader) != "" {
			if err := m.join.Check(r); err != nil {
				m.deny(w, r, err)
				return
			}
			// A server: full access, like the management token.
			m.next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), ServerIdentity)))
			return
		}
	}
	secret := TokenFromRequest(r)
	if secret == "" {
		m.deny(w, r, Denied("no ACL token (send %s or Authorization: Bearer)", TokenHeader))
		return
	}
	id, err := m.resolver.Resolve(secret)
	if err != nil {
		if errors.Is(err, ErrTokenNotFound) {
			m.deny(w, r, Denied("unknown ACL token"))
			return
		}
		api.WriteJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "acl: " + err.Error()})
		return
	}
	if !id.Management && !m.tenantMayCall(r.Method, p) {
		m.deny(w, r, Denied("%s may not call %s %s", id, r.Method, p))
		return
	}
	m.next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
}

func (m *middleware) tenantMayCall(method, p string) bool {
	for _, pre := range m.policy.TenantPrefixes {
		if hasPrefix(p, pre) {
			return true
		}
	}
	if method == http.MethodGet || method == http.MethodHead {
		for _, pre := range m.policy.ReadPrefixes {
			if hasPrefix(p, pre) {
				return true
			}
		}
	}
	return false
}

func (m *middleware) deny(w http.ResponseWriter, r *http.Request, err error) {
	m.log.Debug("request denied", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "error", err)
	api.WriteJSON(w, api.StatusOf(err), api.ErrorResponse{Error: err.Error()})
}

// hasPrefix matches whole path segments: /v1/tenants matches /v1/tenants
// and /v1/tenants/x, not /v1/tenantsx.
func hasPrefix(p, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
