package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"aas/cluster/tlsutil"
)

func TestTLSCommandsMakeAUsablePKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ctl := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String() + errb.String()
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tls", "ca", "create", "-dir", dir}, 0},
		{[]string{"tls", "ca", "create", "-dir", dir}, 1}, // refuses to overwrite
		{[]string{"tls", "cert", "create", "-ca-dir", dir, "-name", "node1", "-ip", "127.0.0.1"}, 0},
		{[]string{"tls", "cert", "create", "-ca-dir", dir, "-name", "ops", "-client"}, 0},
		{[]string{"tls", "cert", "create", "-ca-dir", dir, "-name", "x", "-ip", "300.1.1.1"}, 1},
		{[]string{"tls", "cert", "create", "-ca-dir", dir, "-name", "nosan"}, 1},
		{[]string{"tls", "cert", "create", "-name", "x"}, 2},
		{[]string{"tls", "bogus"}, 2},
	} {
		if code, out := ctl(tc.args...); code != tc.code {
			t.Fatalf("ctl %v = %d, want %d\n%s", tc.args, code, tc.code, out)
		}
	}
	node := tlsutil.Files{CertFile: filepath.Join(dir, "node1.pem"), KeyFile: filepath.Join(dir, "node1-key.pem"), CAFile: filepath.Join(dir, "ca.pem")}
	if _, err := tlsutil.MutualConfig(node); err != nil {
		t.Fatalf("node certificate unusable: %v", err)
	}
	ops := tlsutil.Files{CertFile: filepath.Join(dir, "ops.pem"), KeyFile: filepath.Join(dir, "ops-key.pem"), CAFile: node.CAFile}
	if _, err := tlsutil.MutualClientConfig(ops); err != nil {
		t.Fatalf("client certificate unusable: %v", err)
	}
}
