// Package secrets seals small secret values (instance passwords, template
// secrets) with AES-256-GCM under a cluster key, so that they can travel
// through Raft, snapshots, API output and logs without ever being
// plaintext there.
//
// A sealed value is a printable string:
//
//	aasenc:v1:<keyid>:<base64url(nonce || ciphertext+tag)>
//
// keyid is the first 8 bytes of SHA-256(key) in hex: it names the key
// without revealing it, and lets Open refuse a value sealed under another
// key with a clear error instead of a generic authentication failure.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Prefix starts every sealed value.
const Prefix = "aasenc:v1:"

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

// KeyFileName is the key file GenerateOrLoad creates in a data directory.
const KeyFileName = "secrets.key"

// Sentinel errors.
var (
	// ErrNotSealed: Open was given a value without the Prefix.
	ErrNotSealed = errors.New("value is not sealed")
	// ErrMalformed: the value has the prefix but not the format.
	ErrMalformed = errors.New("malformed sealed value")
	// ErrUnknownKey: the value was sealed under another key.
	ErrUnknownKey = errors.New("sealed under an unknown key")
	// ErrDecrypt: authentication failed (tampered value or wrong key).
	ErrDecrypt = errors.New("decryption failed")
	// ErrBadKey: a key file or key has the wrong size or encoding.
	ErrBadKey = errors.New("bad secrets key")
)

// Keyring seals with one key and opens values sealed with any of its keys
// (the first is the sealing key; more allow rotation). It is safe for
// concurrent use.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewKeyring builds a keyring; keys[0] seals. Every key must be KeySize
// bytes.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrBadKey)
	}
	kr := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("%w: key %d is %d bytes, want %d", ErrBadKey, i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		id := KeyID(k)
		if i == 0 {
			kr.primary = id
		}
		kr.aeads[id] = aead
	}
	return kr, nil
}

// KeyID names a key: hex of the first 8 bytes of its SHA-256.
func KeyID(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:8])
}

// PrimaryKeyID is the ID of the sealing key.
func (k *Keyring) PrimaryKeyID() string { return k.primary }

// IsSealed reports whether v looks like a sealed value (has the Prefix).
func IsSealed(v string) bool { return strings.HasPrefix(v, Prefix) }

// Seal encrypts plaintext under the primary key with a fresh random nonce.
// The key ID is authenticated as additional data.
func (k *Keyring) Seal(plaintext string) (string, error) {
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return "", fmt.Errorf("secrets: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(k.primary))
	return Prefix + k.primary + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value.
func (k *Keyring) Open(sealed string) (string, error) {
	if !IsSealed(sealed) {
		return "", ErrNotSealed
	}
	id, body, ok := strings.Cut(strings.TrimPrefix(sealed, Prefix), ":")
	if !ok || id == "" {
		return "", fmt.Errorf("%w: no key id", ErrMalformed)
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w: too short", ErrMalformed)
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}

// SealAll seals every non-empty, not yet sealed value in place (the
// pointers tenant.Secrets returns). On error nothing is changed.
func (k *Keyring) SealAll(values []*string) error {
	out := make([]string, len(values))
	for i, p := range values {
		if *p == "" || IsSealed(*p) {
			out[i] = *p
			continue
		}
		s, err := k.Seal(*p)
		if err != nil {
			return err
		}
		out[i] = s
	}
	for i, p := range values {
		*p = out[i]
	}
	return nil
}

// LoadKeyFile reads a key file: the key as 64 hex digits or 44 characters
// of standard base64 (surrounding whitespace ignored). A file readable by
// group or others is refused.
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s: mode %o, want 0600 (no group/other access)", ErrBadKey, path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return ParseKey(path, strings.TrimSpace(string(data)))
}

// ParseKey decodes a key given as hex or base64; name is used in errors.
func ParseKey(name, s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, fmt.Errorf("%w: %s: want %d bytes as 64 hex digits or base64", ErrBadKey, name, KeySize)
}

// GenerateKey returns a fresh random key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		return nil, fmt.Errorf("secrets: generate key: %w", err)
	}
	return k, nil
}

// LoadOrGenerate returns the keyring for a controller: the key from
// keyFile when it is set, otherwise dataDir/secrets.key, generated (0600,
// hex) on first use. created reports a newly generated key. Every
// controller of a cluster must use the same key: copy the generated file
// to the others or give all of them -secrets-key-file.
func LoadOrGenerate(keyFile, dataDir string) (kr *Keyring, created bool, err error) {
	path := keyFile
	if path == "" {
		path = filepath.Join(dataDir, KeyFileName)
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
			key, err := GenerateKey()
			if err != nil {
				return nil, false, err
			}
			if err := writeKey(path, key); err != nil {
				return nil, false, err
			}
			created = true
		}
	}
	key, err := LoadKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	kr, err = NewKeyring(key)
	return kr, created, err
}

// writeKey creates path exclusively with mode 0600.
func writeKey(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secrets key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("secrets key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("secrets key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("secrets key: %w", err)
	}
	return f.Close()
}
