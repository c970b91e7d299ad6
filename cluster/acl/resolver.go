package acl

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"aas/fsm"
)

// Resolver turns a token secret into an identity.
type Resolver interface {
	// Resolve returns the identity of secret, or an error wrapping
	// ErrTokenNotFound.
	Resolve(secret string) (Identity, error)
}

// StateReader gives read access to the replicated state; *fsm.FSM
// implements it.
type StateReader interface {
	Read(func(*fsm.State))
}

var _ StateReader = (*fsm.FSM)(nil)

// FSMResolver resolves tokens against the tokens in the local FSM (every
// controller has them: no round trip to the leader per request).
type FSMResolver struct {
	State StateReader
}

var _ Resolver = (*FSMResolver)(nil)

// Resolve hashes secret and looks the hash up.
func (r *FSMResolver) Resolve(secret string) (Identity, error) {
	if secret == "" {
		return Identity{}, fmt.Errorf("%w: empty token", ErrTokenNotFound)
	}
	h := HashSecret(secret)
	var tok fsm.ACLToken
	var ok bool
	r.State.Read(func(s *fsm.State) { tok, ok = s.ACLTokenBySecretHash(h) })
	if !ok {
		return Identity{}, ErrTokenNotFound
	}
	return Identity{AccessorID: tok.AccessorID, Management: tok.Management, Tenant: tok.Tenant}, nil
}

// HashSecret is the stored form of a secret: hex(SHA-256(secret)).
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// NewSecret returns a fresh token secret (256 random bits, base64url).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("acl: secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewAccessorID returns a fresh public token ID (16 hex digits).
func NewAccessorID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("acl: accessor id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// MinSecretLen is the shortest secret accepted for a given (not
// generated) bootstrap token.
const MinSecretLen = 16
