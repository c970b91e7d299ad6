package process

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times. It is 100 on every
// Linux architecture Go supports (the kernel fixes it for the ABI).
const clockTicks = 100

// procStat is the part of /proc/PID/stat the driver uses.
type procStat struct {
	State      byte
	UTime      uint64 // ticks
	STime      uint64 // ticks
	StartTicks uint64 // since boot
	RSSPages   uint64
}

// readProcStat parses /proc/PID/stat. The command name may contain spaces
// and parentheses, so fields are counted after the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("proc stat: malformed")
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("proc stat: %d fields, want >= 22", len(f))
	}
	var s procStat
	s.State = f[0][0]
	var perr error
	u := func(n int) uint64 {
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil && perr == nil {
			perr = fmt.Errorf("proc stat field %d: %w", n, err)
		}
		return v
	}
	s.UTime, s.STime, s.StartTicks, s.RSSPages = u(14), u(15), u(22), u(24)
	return s, perr
}

// CPUSeconds is utime+stime in seconds.
func (s procStat) CPUSeconds() float64 { return float64(s.UTime+s.STime) / clockTicks }

// dead reports whether the process is a zombie or dead.
func (s procStat) dead() bool { return s.State == 'Z' || s.State == 'X' }

var (
	btimeOnce sync.Once
	btime     time.Time
)

// bootTime is the boot time from /proc/stat's btime line.
func bootTime() time.Time {
	btimeOnce.Do(func() {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "btime "); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
					btime = time.Unix(n, 0)
				}
			}
		}
	})
	return btime
}

// startTime converts a start-ticks value into wall time.
func startTime(ticks uint64) time.Time {
	return bootTime().Add(time.Duration(ticks) * time.Second / clockTicks)
}

// hasEnv reports whether /proc/PID/environ holds the exact entry kv.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

// cmdline returns /proc/PID/cmdline as an argument list.
func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}
