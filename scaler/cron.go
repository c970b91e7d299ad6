package scaler

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // every replica resolves time zones identically
)

// Cron is a parsed 5-field cron expression: minute hour day-of-month month
// day-of-week. Day-of-month and day-of-week combine as in Vixie cron: when
// both are restricted, a time matches if either matches.
type Cron struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

var cronFields = []struct {
	name     string
	min, max int
}{
	{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 7},
}

// ParseCron parses "M H DOM MON DOW" with *, lists (a,b), ranges (a-b) and
// steps (*/n, a-b/n). Day-of-week 7 is Sunday like 0.
func ParseCron(expr string) (Cron, error) {
	parts := strings.Fields(expr)
	if len(parts) != 5 {
		return Cron{}, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(parts))
	}
	var c Cron
	sets := []*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, p := range parts {
		f := cronFields[i]
		bits, err := parseCronField(p, f.min, f.max)
		if err != nil {
			return Cron{}, fmt.Errorf("cron %q: %s field: %w", expr, f.name, err)
		}
		*sets[i] = bits
	}
	if c.dow&(1<<7) != 0 {
		c.dow |= 1
	}
	c.domStar = parts[2] == "*"
	c.dowStar = parts[4] == "*"
	return c, nil
}

func parseCronField(s string, lo, hi int) (uint64, error) {
	var bits uint64
	for _, item := range strings.Split(s, ",") {
		step := 1
		if i := strings.IndexByte(item, '/'); i >= 0 {
			n, err := strconv.Atoi(item[i+1:])
			if err != nil || n < 1 {
				return 0, fmt.Errorf("bad step in %q", item)
			}
			step = n
			item = item[:i]
		}
		a, b := lo, hi
		switch {
		case item == "*":
		case strings.Contains(item, "-"):
			x, y, _ := strings.Cut(item, "-")
			var err1, err2 error
			a, err1 = strconv.Atoi(x)
			b, err2 = strconv.Atoi(y)
			if err1 != nil || err2 != nil {
				return 0, fmt.Errorf("bad range %q", item)
			}
		default:
			n, err := strconv.Atoi(item)
			if err != nil {
				return 0, fmt.Errorf("bad value %q", item)
			}
			a, b = n, n
			if step > 1 {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return 0, fmt.Errorf("%q outside %d-%d", item, lo, hi)
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

// Match reports whether the minute containing t matches.
func (c Cron) Match(t time.Time) bool {
	if c.minute&(1<<uint(t.Minute())) == 0 || c.hour&(1<<uint(t.Hour())) == 0 || c.month&(1<<uint(t.Month())) == 0 {
		return false
	}
	domOK := c.dom&(1<<uint(t.Day())) != 0
	dowOK := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// LatestStart returns the most recent slot start s with now−within < s ≤ now
// (at minute resolution, in loc), and whether there is one.
func (c Cron) LatestStart(now time.Time, within time.Duration, loc *time.Location) (time.Time, bool) {
	l := now.In(loc)
	t := l.Add(-time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
	earliest := now.Add(-within)
	for ; t.After(earliest); t = t.Add(-time.Minute) {
		if c.Match(t) {
			return t, true
		}
	}
	return time.Time{}, false
}

var locations sync.Map // name → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}
