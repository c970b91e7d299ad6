// Package testenv decides whether a test that needs a privilege or a daemon
// can run here. On a laptop without root or dockerd such tests skip with a
// clear message; in CI (CI or AAS_REQUIRE_ROOT_TESTS set) they fail instead,
// so nothing is silently skipped there.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// InCI reports whether missing prerequisites must fail rather than skip.
func InCI() bool {
	return os.Getenv("CI") != "" || os.Getenv("AAS_REQUIRE_ROOT_TESTS") != ""
}

func missing(t testing.TB, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI but missing", what)
	}
	t.Skipf("skipping: %s (run as root with it available, as CI does)", what)
}

// RequireRoot skips (fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "root (CAP_NET_ADMIN)")
	}
}

// RequireBinary skips (fails in CI) unless name is on PATH.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "the "+name+" binary")
	}
	return p
}

// DockerSocket is where tests expect the Docker engine.
const DockerSocket = "/var/run/docker.sock"

// RequireDocker skips (fails in CI) unless a Docker engine answers on its socket.
func RequireDocker(t testing.TB) {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", DockerSocket)
	if err != nil {
		missing(t, "a Docker engine on "+DockerSocket)
		return
	}
	c.Close()
}
