package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// NetnsDir is where named network namespaces are bind-mounted (as by
// `ip netns add`).
const NetnsDir = "/var/run/netns"

// NewNamespace creates the named network namespace (like `ip netns add
// NAME`) and returns a handle to it; the calling thread's namespace is left
// unchanged. Close the handle when done; DeleteNamespace removes it.
func NewNamespace(name string) (netns.NsHandle, error) {
	if err := validName("namespace", name, 64); err != nil {
		return netns.None(), err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return netns.None(), fmt.Errorf("netcfg: current namespace: %w", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name) // switches this thread into it
	if err != nil {
		return netns.None(), fmt.Errorf("netcfg: create namespace %q: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		// This thread is stuck in the new namespace: keep it locked so
		// the runtime discards it instead of reusing it.
		runtime.LockOSThread()
		ns.Close()
		return netns.None(), fmt.Errorf("netcfg: return from namespace %q: %w", name, err)
	}
	return ns, nil
}

// DeleteNamespace removes the named namespace (like `ip netns del`). A
// missing namespace is not an error.
func DeleteNamespace(name string) error {
	if err := validName("namespace", name, 64); err != nil {
		return err
	}
	if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		if _, statErr := os.Stat(filepath.Join(NetnsDir, name)); errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("netcfg: delete namespace %q: %w", name, err)
	}
	return nil
}

// NamespaceByName opens a handle to an existing named namespace.
func NamespaceByName(name string) (netns.NsHandle, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return netns.None(), fmt.Errorf("netcfg: open namespace %q: %w", name, err)
	}
	return ns, nil
}

// Do runs fn on an OS thread switched into ns and switches back. Sockets
// and child processes created by fn live in ns; goroutines started by fn do
// not.
func Do(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netcfg: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netcfg: enter namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime destroys it when the
		// goroutine ends rather than reuse a thread in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("netcfg: leave namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// ListenIn opens a listener inside ns. The socket belongs to ns for its
// whole life, whichever thread later accepts on it.
func ListenIn(ns netns.NsHandle, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := Do(ns, func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netcfg: listen %s %s in namespace: %w", network, addr, err)
	}
	return l, nil
}

// DialContextIn returns a dial function (for http.Transport.DialContext and
// the like) whose connections originate inside ns.
func DialContextIn(ns netns.NsHandle) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := Do(ns, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
