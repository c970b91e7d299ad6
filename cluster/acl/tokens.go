package acl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster/api"
	"aas/fsm"
)

// ApplyFunc commits an FSM command through Raft (on a follower it is
// forwarded). The server passes a closure around (*cluster.Server).Apply.
type ApplyFunc func(ctx context.Context, cmd fsm.Command) error

// Token is a token as the API shows it: never the secret hash.
type Token struct {
	AccessorID  string    `json:"accessor_id"`
	Management  bool      `json:"management,omitempty"`
	Tenant      string    `json:"tenant,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
}

// CreatedToken is the answer to a create: the only time the secret is
// shown.
type CreatedToken struct {
	Token
	Secret string `json:"secret"`
}

// CreateRequest is the body of POST /v1/acl/tokens.
type CreateRequest struct {
	Management  bool   `json:"management,omitempty"`
	Tenant      string `json:"tenant,omitempty"`
	Description string `json:"description,omitempty"`
}

func tokenView(t fsm.ACLToken) Token {
	return Token{AccessorID: t.AccessorID, Management: t.Management, Tenant: t.Tenant,
		Description: t.Description, Created: t.Created}
}

// Endpoints serves the token API. Register with the server's router:
//
//	e := &acl.Endpoints{State: srv.FSM(), Apply: ..., Now: time.Now}
//	e.Register(srv.Handle)
type Endpoints struct {
	State StateReader
	Apply ApplyFunc
	// Now stamps created tokens (time.Now when nil).
	Now    func() time.Time
	Logger hclog.Logger
}

// Register adds the routes with handle (e.g. (*cluster.Server).Handle):
//
//	POST   /v1/acl/tokens       create (management only; secret in the answer)
//	GET    /v1/acl/tokens       list (management only; no secrets)
//	DELETE /v1/acl/tokens/{id}  delete by accessor ID (management only)
//	GET    /v1/acl/token/self   the caller's own identity
func (e *Endpoints) Register(handle func(method, path string, h api.HandlerFunc)) {
	handle("POST", "/v1/acl/tokens", e.HandleCreate)
	handle("GET", "/v1/acl/tokens", e.HandleList)
	handle("DELETE", "/v1/acl/tokens/{id}", e.HandleDelete)
	handle("GET", "/v1/acl/token/self", e.HandleSelf)
}

// HandleCreate creates a token.
func (e *Endpoints) HandleCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := AuthorizeManagement(r.Context()); err != nil {
		return nil, err
	}
	var req CreateRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Management == (req.Tenant != "") {
		return nil, fmt.Errorf("%w: exactly one of management or tenant must be set", api.ErrBadRequest)
	}
	if req.Tenant != "" && !fsm.ValidName(req.Tenant) {
		return nil, fmt.Errorf("%w: tenant %q is not a valid name", api.ErrBadRequest, req.Tenant)
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	ct, cmd, err := NewToken(req, now())
	if err != nil {
		return nil, err
	}
	if err := e.Apply(r.Context(), cmd); err != nil {
		return nil, mapFSMErr(err)
	}
	if e.Logger != nil {
		e.Logger.Named("acl").Info("token created", "accessor", ct.AccessorID, "management", ct.Management, "tenant", ct.Tenant)
	}
	return ct, nil
}

// HandleList lists tokens.
func (e *Endpoints) HandleList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := AuthorizeManagement(r.Context()); err != nil {
		return nil, err
	}
	out := []Token{}
	e.State.Read(func(s *fsm.State) {
		for _, t := range s.ACLTokenList() {
			out = append(out, tokenView(t))
		}
	})
	return out, nil
}

// HandleDelete deletes a token by accessor ID.
func (e *Endpoints) HandleDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := AuthorizeManagement(r.Context()); err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if err := e.Apply(r.Context(), fsm.DeleteACLToken{AccessorID: id}); err != nil {
		return nil, mapFSMErr(err)
	}
	if e.Logger != nil {
		e.Logger.Named("acl").Info("token deleted", "accessor", id)
	}
	return map[string]string{"deleted": id}, nil
}

// HandleSelf returns the caller's identity.
func (e *Endpoints) HandleSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	id, ok := FromContext(r.Context())
	if !ok {
		return nil, fmt.Errorf("%w: ACLs are disabled", api.ErrNotFound)
	}
	return id, nil
}

// mapFSMErr maps FSM rejections onto API statuses. The text is kept but
// the chain is cut on purpose: the server's router maps any rejected
// command to 422 before it looks at api sentinels.
func mapFSMErr(err error) error {
	switch {
	case errors.Is(err, fsm.ErrNotFound):
		return fmt.Errorf("%w: %s", api.ErrNotFound, err)
	case errors.Is(err, fsm.ErrConflict), errors.Is(err, fsm.ErrInUse):
		return fmt.Errorf("%w: %s", api.ErrConflict, err)
	case errors.Is(err, fsm.ErrBadCommand):
		return fmt.Errorf("%w: %s", api.ErrBadRequest, err)
	}
	return err
}

// NewToken generates a secret and accessor ID for req and returns the
// token to show once and the command to commit (hash only).
func NewToken(req CreateRequest, now time.Time) (CreatedToken, fsm.CreateACLToken, error) {
	secret, err := NewSecret()
	if err != nil {
		return CreatedToken{}, fsm.CreateACLToken{}, err
	}
	return newTokenWithSecret(req, secret, now)
}

func newTokenWithSecret(req CreateRequest, secret string, now time.Time) (CreatedToken, fsm.CreateACLToken, error) {
	accessor, err := NewAccessorID()
	if err != nil {
		return CreatedToken{}, fsm.CreateACLToken{}, err
	}
	rec := fsm.ACLToken{AccessorID: accessor, SecretHash: HashSecret(secret), Management: req.Management,
		Tenant: req.Tenant, Description: req.Description, Created: now.UTC()}
	return CreatedToken{Token: tokenView(rec), Secret: secret}, fsm.CreateACLToken{Token: rec}, nil
}

// Bootstrap creates the bootstrap management token once per cluster. With
// secret "" a secret is generated. created is false (and err nil) when the
// cluster already has a management token: the given or generated secret is
// then NOT valid. The caller prints a generated secret once, e.g.
//
//	tok, created, err := acl.Bootstrap(ctx, apply, secret, time.Now())
//	if created && secret == "" { fmt.Fprintln(os.Stderr, "bootstrap token:", tok.Secret) }
//
// Run it on the leader once it is elected (Apply forwards otherwise).
func Bootstrap(ctx context.Context, apply ApplyFunc, secret string, now time.Time) (tok CreatedToken, created bool, err error) {
	if secret == "" {
		if secret, err = NewSecret(); err != nil {
			return CreatedToken{}, false, err
		}
	} else if len(secret) < MinSecretLen {
		return CreatedToken{}, false, fmt.Errorf("acl: bootstrap token: want at least %d characters, got %d", MinSecretLen, len(secret))
	}
	tok, cmd, err := newTokenWithSecret(CreateRequest{Management: true, Description: "bootstrap management token"}, secret, now)
	if err != nil {
		return CreatedToken{}, false, err
	}
	cmd.Bootstrap = true
	if err := apply(ctx, cmd); err != nil {
		if errors.Is(err, fsm.ErrConflict) {
			return CreatedToken{}, false, nil
		}
		return CreatedToken{}, false, fmt.Errorf("acl: bootstrap: %w", err)
	}
	return tok, true, nil
}
