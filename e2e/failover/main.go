// Command failover measures controller failover as a user sees it: three
// `ctl agent -server` processes on 127.0.0.1; each trial kills the leader
// with SIGKILL and times until both survivors' /v1/status/leader name the
// same new leader; then the killed node is restarted from its data dir and
// the cluster is let to settle before the next trial.
//
//	go run ./e2e/failover -trials 20            # raft defaults
//	go run ./e2e/failover -trials 20 -tuned     # -raft-profile tuned
//	go run ./e2e/failover -trials 20 -both      # both, with the ratio
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"aas/e2e/clusterproc"
)

func main() {
	trials := flag.Int("trials", 20, "kill -9 trials per profile")
	tuned := flag.Bool("tuned", false, "measure -raft-profile tuned instead of raft defaults")
	both := flag.Bool("both", false, "measure raft defaults and tuned in the same run")
	poll := flag.Duration("poll", 5*time.Millisecond, "leader polling interval")
	keep := flag.Bool("keep", false, "keep the work dir (logs, data dirs)")
	flag.Parse()
	if err := run(*trials, *tuned, *both, *poll, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

func run(trials int, tuned, both bool, poll time.Duration, keep bool) error {
	dir, err := os.MkdirTemp("", "aas-failover-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("work dir:", dir)
	}
	bin, err := clusterproc.BuildCtl(dir)
	if err != nil {
		return err
	}
	profiles := []string{"default"}
	switch {
	case both:
		profiles = []string{"default", "tuned"}
	case tuned:
		profiles = []string{"tuned"}
	}
	results := map[string][]time.Duration{}
	for _, p := range profiles {
		d, err := measure(bin, dir, p, trials, poll)
		if err != nil {
			return fmt.Errorf("profile %s: %w", p, err)
		}
		results[p] = d
		report(p, d)
	}
	if both {
		r := pct(results["tuned"], 50).Seconds() / pct(results["default"], 50).Seconds()
		fmt.Printf("tuned/default p50 ratio: %.2f\n", r)
	}
	return nil
}

func measure(bin, base, profile string, trials int, poll time.Duration) ([]time.Duration, error) {
	dir, err := os.MkdirTemp(base, profile+"-")
	if err != nil {
		return nil, err
	}
	lab := &clusterproc.Lab{Bin: bin, Dir: dir, ServerArgs: []string{"-raft-profile", profile, "-log-level", "warn"}}
	var nodes []*clusterproc.Node
	for i := 1; i <= 3; i++ {
		var join []string
		if i > 1 {
			join = []string{nodes[0].HTTP}
		}
		n, err := lab.NewServer(fmt.Sprintf("s%d", i), 3, join...)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	defer func() {
		for _, n := range nodes {
			_ = n.Kill()
		}
	}()
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			return nil, err
		}
	}
	leader, _, err := clusterproc.WaitAgreed(nodes, 60*time.Second, 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for trial := 1; trial <= trials; trial++ {
		victim := clusterproc.ByID(nodes, leader)
		survivors := clusterproc.Without(nodes, victim)
		start := time.Now()
		if err := victim.Kill(); err != nil {
			return nil, err
		}
		killed := time.Since(start)
		newLeader, took, err := clusterproc.WaitAgreed(survivors, 60*time.Second, poll, victim.ID)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", trial, err)
		}
		d := took + killed
		out = append(out, d)
		fmt.Printf("%-7s trial %2d: killed %s, new leader %s after %v\n", profile, trial, victim.ID, newLeader, d.Round(time.Millisecond))
		// Restart the victim from its data dir and let all three agree.
		if err := victim.Start(); err != nil {
			return nil, err
		}
		if leader, _, err = clusterproc.WaitAgreed(nodes, 60*time.Second, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("trial %d: after restart: %w", trial, err)
		}
	}
	return out, nil
}

// pct is the nearest-rank percentile.
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := (p*len(s) + 99) / 100
	return s[max(i-1, 0)]
}

func report(profile string, d []time.Duration) {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	fmt.Printf("%s: n=%d p50=%v p99=%v min=%v max=%v mean=%v\n", profile, len(d),
		pct(d, 50).Round(time.Millisecond), pct(d, 99).Round(time.Millisecond),
		pct(d, 0).Round(time.Millisecond), pct(d, 100).Round(time.Millisecond),
		(sum / time.Duration(max(len(d), 1))).Round(time.Millisecond))
}
