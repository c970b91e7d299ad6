package fsm

import (
	"cmp"
	"encoding/hex"
	"slices"
	"time"
)

// ACL command type bytes (appended after the original table; see
// commands.go for the rule and fsm/DESIGN.md for the meanings).
const (
	CreateACLTokenType MessageType = 17
	DeleteACLTokenType MessageType = 18
)

// ACLToken is the stored record of an ACL token. The FSM never sees the
// token's secret, only its SHA-256 (SecretHash, lower-case hex): the Raft
// log, snapshots and API output cannot leak a usable token.
type ACLToken struct {
	// AccessorID is the token's public identifier (list, delete).
	AccessorID string `json:"accessor_id"`
	// SecretHash is hex(SHA-256(secret)).
	SecretHash string `json:"secret_hash"`
	// Management tokens may do everything; otherwise Tenant is the only
	// tenant the token may see and change.
	Management  bool      `json:"management,omitempty"`
	Tenant      string    `json:"tenant,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
}

// CreateACLToken stores a new token. With Bootstrap set it succeeds only
// while no management token exists (ErrConflict afterwards), so that the
// bootstrap token of a first start is created once, whichever controller
// proposes it.
type CreateACLToken struct {
	Token     ACLToken `json:"token"`
	Bootstrap bool     `json:"bootstrap,omitempty"`
}

// DeleteACLToken removes a token by accessor ID. Deleting the last
// management token is refused (ErrInUse): it would lock every operator out.
type DeleteACLToken struct {
	AccessorID string `json:"accessor_id"`
}

// CommandType implementations.
func (CreateACLToken) CommandType() MessageType { return CreateACLTokenType }
func (DeleteACLToken) CommandType() MessageType { return DeleteACLTokenType }

func init() {
	registerCommand("create-acl-token", applyCreateACLToken)
	registerCommand("delete-acl-token", applyDeleteACLToken)
}

func applyCreateACLToken(s *State, _ uint64, c *CreateACLToken) (any, error) {
	t := c.Token
	if err := checkName("acl accessor id", t.AccessorID); err != nil {
		return nil, err
	}
	if b, err := hex.DecodeString(t.SecretHash); err != nil || len(b) != 32 || hex.EncodeToString(b) != t.SecretHash {
		return nil, invalid("acl token %q: secret_hash must be 64 lower-case hex digits (SHA-256)", t.AccessorID)
	}
	if t.Management == (t.Tenant != "") {
		return nil, invalid("acl token %q: exactly one of management or tenant must be set", t.AccessorID)
	}
	if t.Tenant != "" {
		if err := checkName("acl token tenant", t.Tenant); err != nil {
			return nil, err
		}
	}
	if c.Bootstrap && !t.Management {
		return nil, invalid("acl token %q: a bootstrap token must be a management token", t.AccessorID)
	}
	if t.Created.IsZero() {
		return nil, invalid("acl token %q: created time is zero", t.AccessorID)
	}
	if len(t.Description) > 256 {
		return nil, invalid("acl token %q: description longer than 256 bytes", t.AccessorID)
	}
	if c.Bootstrap && s.managementTokens() > 0 {
		return nil, reject(ErrConflict, "acl already bootstrapped")
	}
	if _, dup := s.ACLToken(t.AccessorID); dup {
		return nil, reject(ErrConflict, "acl token %q exists", t.AccessorID)
	}
	if _, dup := s.ACLTokens[t.SecretHash]; dup {
		return nil, reject(ErrConflict, "acl token %q: secret already in use", t.AccessorID)
	}
	t.Created = utc(t.Created)
	if s.ACLTokens == nil {
		s.ACLTokens = map[string]ACLToken{}
	}
	s.ACLTokens[t.SecretHash] = t
	return nil, nil
}

func applyDeleteACLToken(s *State, _ uint64, c *DeleteACLToken) (any, error) {
	t, ok := s.ACLToken(c.AccessorID)
	if !ok {
		return nil, reject(ErrNotFound, "acl token %q", c.AccessorID)
	}
	if t.Management && s.managementTokens() == 1 {
		return nil, reject(ErrInUse, "acl token %q is the last management token", c.AccessorID)
	}
	delete(s.ACLTokens, t.SecretHash)
	return nil, nil
}

func (s *State) managementTokens() int {
	n := 0
	for _, t := range s.ACLTokens {
		if t.Management {
			n++
		}
	}
	return n
}

// ACLTokenBySecretHash finds the token whose SecretHash is hash: a map
// lookup, since State.ACLTokens is keyed by the hash. (Lookup timing can
// at most reveal something about a SHA-256 of a 256-bit random secret,
// which does not help to find the secret.)
func (s *State) ACLTokenBySecretHash(hash string) (ACLToken, bool) {
	t, ok := s.ACLTokens[hash]
	return t, ok
}

// ACLToken returns the token with the given accessor ID (a scan: only
// token management uses it).
func (s *State) ACLToken(accessorID string) (ACLToken, bool) {
	for _, t := range s.ACLTokens {
		if t.AccessorID == accessorID {
			return t, true
		}
	}
	return ACLToken{}, false
}

// ACLTokenList returns all tokens sorted by accessor ID.
func (s *State) ACLTokenList() []ACLToken {
	out := make([]ACLToken, 0, len(s.ACLTokens))
	for _, t := range s.ACLTokens {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b ACLToken) int { return cmp.Compare(a.AccessorID, b.AccessorID) })
	return out
}

// ACLBootstrapped reports whether a management token exists.
func (s *State) ACLBootstrapped() bool { return s.managementTokens() > 0 }
