package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKeyring(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func key(b byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	kr := mustKeyring(t, key(1))
	for _, pt := range []string{"", "change-me", "päss wörd ✓", strings.Repeat("x", 4096)} {
		s, err := kr.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		if !IsSealed(s) || !strings.HasPrefix(s, Prefix+kr.PrimaryKeyID()+":") {
			t.Fatalf("sealed %q = %q: no prefix with key id", pt, s)
		}
		if pt != "" && strings.Contains(s, pt) {
			t.Fatalf("sealed value contains the plaintext: %q", s)
		}
		got, err := kr.Open(s)
		if err != nil || got != pt {
			t.Fatalf("Open = %q, %v; want %q", got, err, pt)
		}
	}
	a, _ := kr.Seal("same")
	b, _ := kr.Seal("same")
	if a == b {
		t.Fatal("two seals of the same value are identical: nonce reused")
	}
}

func TestOpenRejects(t *testing.T) {
	kr := mustKeyring(t, key(1))
	other := mustKeyring(t, key(2))
	good, _ := kr.Seal("secret")
	foreign, _ := other.Seal("secret")
	body := strings.TrimPrefix(good, Prefix+kr.PrimaryKeyID()+":")
	flip := []byte(body)
	if flip[len(flip)-3] == 'A' {
		flip[len(flip)-3] = 'B'
	} else {
		flip[len(flip)-3] = 'A'
	}
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"plaintext", "secret", ErrNotSealed},
		{"no key id", Prefix + "abc", ErrMalformed},
		{"unknown key", foreign, ErrUnknownKey},
		{"bad base64", Prefix + kr.PrimaryKeyID() + ":!!!", ErrMalformed},
		{"too short", Prefix + kr.PrimaryKeyID() + ":AAAA", ErrMalformed},
		{"tampered", Prefix + kr.PrimaryKeyID() + ":" + string(flip), ErrDecrypt},
		{"key id swapped", strings.Replace(foreign, other.PrimaryKeyID(), kr.PrimaryKeyID(), 1), ErrDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := kr.Open(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("Open(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestRotationOpensOldValues(t *testing.T) {
	old := mustKeyring(t, key(1))
	sealed, _ := old.Seal("v1")
	rotated := mustKeyring(t, key(2), key(1))
	if got, err := rotated.Open(sealed); err != nil || got != "v1" {
		t.Fatalf("rotated keyring Open = %q, %v", got, err)
	}
	fresh, _ := rotated.Seal("v2")
	if !strings.Contains(fresh, KeyID(key(2))) {
		t.Fatal("rotated keyring does not seal with its first key")
	}
}

func TestSealAll(t *testing.T) {
	kr := mustKeyring(t, key(1))
	pre, _ := kr.Seal("already")
	a, b, c := "pw", "", pre
	if err := kr.SealAll([]*string{&a, &b, &c}); err != nil {
		t.Fatal(err)
	}
	if !IsSealed(a) || b != "" || c != pre {
		t.Fatalf("SealAll: %q %q %q (want sealed, empty kept, sealed kept unchanged)", a, b, c)
	}
	if got, _ := kr.Open(a); got != "pw" {
		t.Fatalf("open = %q", got)
	}
}

func TestLoadOrGenerate(t *testing.T) {
	dir := t.TempDir()
	kr, created, err := LoadOrGenerate("", dir)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, fi.Mode().Perm())
	}
	sealed, _ := kr.Seal("x")
	kr2, created, err := LoadOrGenerate("", dir)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if got, err := kr2.Open(sealed); err != nil || got != "x" {
		t.Fatalf("reloaded key cannot open: %q %v", got, err)
	}
}

func TestLoadKeyFileRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hexKey := strings.Repeat("ab", KeySize)
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          error
	}{
		{"world readable", hexKey, 0o644, ErrBadKey},
		{"short", "abcd", 0o600, ErrBadKey},
		{"garbage", "not a key at all", 0o600, ErrBadKey},
		{"missing", "", 0, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "missing")
			if tc.mode != 0 {
				p = write(tc.name, tc.content, tc.mode)
			}
			_, err := LoadKeyFile(p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoadKeyFile = %v, want %v", err, tc.want)
			}
			if tc.want == ErrBadKey && !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
	p := write("ok", "  "+hexKey+"\n", 0o600)
	if k, err := LoadKeyFile(p); err != nil || len(k) != KeySize {
		t.Fatalf("valid hex key: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	kr, _ := NewKeyring(key(1))
	s, _ := kr.Seal("seed")
	f.Add(s)
	f.Add(Prefix + "x:y")
	f.Fuzz(func(t *testing.T, in string) {
		pt, err := kr.Open(in)
		if err == nil {
			again, err := kr.Seal(pt)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := kr.Open(again); err != nil || back != pt {
				t.Fatal("round trip failed")
			}
		}
	})
}
