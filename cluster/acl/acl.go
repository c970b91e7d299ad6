// Package acl authenticates and authorizes HTTP API calls with tokens.
//
// A token is a random secret the caller sends in the X-Aas-Token header
// (or Authorization: Bearer). The FSM stores only the SHA-256 of the
// secret, with the token's scope: management (everything) or one tenant
// (only that tenant's resources). Middleware resolves the secret to an
// Identity and puts it in the request context; resource handlers call
// Authorize(ctx, tenant) before touching a tenant's data, and Visible to
// filter lists. See DESIGN.md for the whole model.
package acl

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"aas/cluster/api"
)

// Header names.
const (
	// TokenHeader carries the ACL token secret.
	TokenHeader = "X-Aas-Token"
	// JoinTokenHeader carries the cluster join token on join and
	// server-to-server (/v1/internal/) calls.
	JoinTokenHeader = "X-Aas-Join-Token"
)

// Sentinel errors. Errors returned to handlers are *api.StatusError with
// code 403 wrapping ErrPermissionDenied, so that the router answers 403
// without any extra mapping.
var (
	// ErrPermissionDenied: no token, an unknown token, or a token whose
	// scope does not cover the resource.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrTokenNotFound: the secret matches no token.
	ErrTokenNotFound = errors.New("acl token not found")
)

// Identity is who a request acts as.
type Identity struct {
	// AccessorID is the token's public ID.
	AccessorID string `json:"accessor_id"`
	// Management identities may do everything.
	Management bool `json:"management,omitempty"`
	// Tenant is the only tenant a non-management identity may use.
	Tenant string `json:"tenant,omitempty"`
}

// ServerIdentity is the identity of a request authenticated by the join
// token (another controller): full access, like a management token.
var ServerIdentity = Identity{AccessorID: "server", Management: true}

// CanUse reports whether the identity may see and change tenant.
func (id Identity) CanUse(tenant string) bool {
	return id.Management || (id.Tenant != "" && id.Tenant == tenant)
}

func (id Identity) String() string {
	if id.Management {
		return "management token " + id.AccessorID
	}
	return fmt.Sprintf("token %s of tenant %q", id.AccessorID, id.Tenant)
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request's identity; ok is false when ACLs are
// disabled (no Middleware in front of the handler).
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Denied builds the 403 error handlers return.
func Denied(format string, args ...any) error {
	return &api.StatusError{Code: http.StatusForbidden,
		Err: fmt.Errorf("%w: %s", ErrPermissionDenied, fmt.Sprintf(format, args...))}
}

// Authorize returns nil when the request may see and change tenant, and a
// 403 error (wrapping ErrPermissionDenied) otherwise. With ACLs disabled
// (no identity in ctx) everything is allowed.
func Authorize(ctx context.Context, tenant string) error {
	id, ok := FromContext(ctx)
	if !ok || id.CanUse(tenant) {
		return nil
	}
	return Denied("%s may not access tenant %q", id, tenant)
}

// AuthorizeManagement returns nil for a management identity (or ACLs
// disabled) and a 403 error otherwise: cluster-wide operations.
func AuthorizeManagement(ctx context.Context) error {
	id, ok := FromContext(ctx)
	if !ok || id.Management {
		return nil
	}
	return Denied("%s is not a management token", id)
}

// Visible reports whether a list entry of tenant may be shown to the
// request (list handlers filter with it instead of failing).
func Visible(ctx context.Context, tenant string) bool { return Authorize(ctx, tenant) == nil }
