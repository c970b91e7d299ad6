package fsm

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"
)

// MaxNameLen is the longest tenant, group, network, cloud or instance name.
const MaxNameLen = 63

// ValidName reports whether s may name a tenant, group, network, cloud or
// instance: 1-63 characters of [A-Za-z0-9_.-], starting with a letter or
// digit. Names end up in bridge, chain and file names, so no '/' or spaces.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkName rejects an invalid name, naming the field.
func checkName(field, v string) error {
	if !ValidName(v) {
		return invalid("%s %q: want 1-%d characters of [A-Za-z0-9_.-] starting with a letter or digit", field, v, MaxNameLen)
	}
	return nil
}

// checkHostPort rejects an address that is not host:port with a port in
// 1-65535 (empty is allowed: "no change" / "not known yet").
func checkHostPort(field, v string) error {
	if v == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err == nil {
		var p int
		p, err = strconv.Atoi(port)
		if err == nil && (host == "" || p < 1 || p > 65535) {
			err = fmt.Errorf("want a host and a port in 1-65535")
		}
	}
	if err != nil {
		return invalid("%s %q: not host:port: %v", field, v, err)
	}
	return nil
}

// checkTime rejects a zero command time: timestamps must come from the
// leader inside the command.
func checkTime(t time.Time) error {
	if t.IsZero() {
		return invalid("time is missing (the leader stamps every command)")
	}
	return nil
}

// checkCap validates a bound.
func checkCap(field string, v int) error {
	if v < 0 || v > MaxCap {
		return invalid("%s %d: want 0 (default) to %d", field, v, MaxCap)
	}
	return nil
}

func fieldErr(field string, err error) error {
	return fmt.Errorf("%s: %w", field, err)
}

func itoa(i int) string    { return strconv.Itoa(i) }
func utoa(u uint64) string { return strconv.FormatUint(u, 10) }

// sortedKeys returns the keys of m in ascending order: apply code iterates
// maps only through it, so results never depend on map order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
