package acl

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"time"

	"aas/cluster/client"
)

// Transport adds the ACL token (and the join token, for server-to-server
// clients) to every request. Wrap an http.Client's transport with it:
//
//	hc := &http.Client{Transport: &acl.Transport{Token: tok}}
//	c := client.New(addr).WithHTTPClient(hc)
type Transport struct {
	Token     string
	JoinToken string
	// Base is the underlying transport (http.DefaultTransport when nil).
	Base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper; it does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Token == "" && t.JoinToken == "" {
		return base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if t.Token != "" {
		r.Header.Set(TokenHeader, t.Token)
	}
	if t.JoinToken != "" {
		r.Header.Set(JoinTokenHeader, t.JoinToken)
	}
	return base.RoundTrip(r)
}

// CreateToken calls POST /v1/acl/tokens.
func CreateToken(ctx context.Context, c *client.Client, req CreateRequest) (CreatedToken, error) {
	var out CreatedToken
	err := c.Do(ctx, http.MethodPost, "/v1/acl/tokens", req, &out)
	return out, err
}

// ListTokens calls GET /v1/acl/tokens.
func ListTokens(ctx context.Context, c *client.Client) ([]Token, error) {
	var out []Token
	err := c.Do(ctx, http.MethodGet, "/v1/acl/tokens", nil, &out)
	return out, err
}

// DeleteToken calls DELETE /v1/acl/tokens/{id}.
func DeleteToken(ctx context.Context, c *client.Client, accessorID string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/acl/tokens/"+url.PathEscape(accessorID), nil, nil)
}

// Self calls GET /v1/acl/token/self.
func Self(ctx context.Context, c *client.Client) (Identity, error) {
	var out Identity
	err := c.Do(ctx, http.MethodGet, "/v1/acl/token/self", nil, &out)
	return out, err
}

// NewHTTPClient returns an http.Client for API clients (ctl): it sends
// token (when set) and uses tlsConfig for https addresses (nil: the
// defaults).
func NewHTTPClient(token string, tlsConfig *tls.Config) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if tlsConfig != nil {
		base.TLSClientConfig = tlsConfig
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &Transport{Token: token, Base: base}}
}
