package workload

import (
	"errors"
	"flag"
	"os"
	"time"
)

// ErrBadFlags reports an invalid flag combination.
var ErrBadFlags = errors.New("invalid workload flags")

// RegisterFlags defines the workload's flags (-listen, -work, -cpu-ms, -id)
// on fs and returns a function that, after fs.Parse, builds the Config with
// the environment defaults ($AAS_LISTEN, $AAS_INSTANCE_ID) applied. Shared
// by `ctl workload` and the test image's fallback binary.
func RegisterFlags(fs *flag.FlagSet) func() (Config, error) {
	listen := fs.String("listen", "", "host:port to listen on (default $AAS_LISTEN, else :8080)")
	work := fs.Duration("work", 0, "CPU time burnt per request, e.g. 20ms")
	cpuMS := fs.Float64("cpu-ms", 0, "CPU milliseconds burnt per request (alternative to -work)")
	id := fs.String("id", "", "instance ID reported in responses (default $AAS_INSTANCE_ID)")
	return func() (Config, error) {
		if fs.NArg() > 0 {
			return Config{}, errors.Join(ErrBadFlags, errors.New("unexpected arguments"))
		}
		c := Config{Listen: *listen, InstanceID: *id, CPUPerRequest: *work}
		if c.Listen == "" {
			c.Listen = os.Getenv("AAS_LISTEN")
		}
		if c.Listen == "" {
			c.Listen = ":8080"
		}
		if c.InstanceID == "" {
			c.InstanceID = os.Getenv("AAS_INSTANCE_ID")
		}
		if *cpuMS != 0 {
			c.CPUPerRequest = time.Duration(*cpuMS * float64(time.Millisecond))
		}
		if c.CPUPerRequest < 0 {
			return Config{}, errors.Join(ErrBadFlags, errors.New("-work / -cpu-ms must not be negative"))
		}
		return c, nil
	}
}
