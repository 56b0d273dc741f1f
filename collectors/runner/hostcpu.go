package runner

// hostcpu.go: what the host's CPUs were and did during a run's clean
// phase (batchdir.HostCPU), from /proc/cpuinfo, /proc/loadavg and two
// readings of /proc/stat's aggregate "cpu" line.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"vitlab/collectors/batchdir"
)

// StealWarnFraction is the CPU steal over a clean phase above which the
// run gets a warning: other guests of the VM's host took that share of
// this host's CPU time while the run measured.
const StealWarnFraction = 0.02

// cpuTimes is /proc/stat's aggregate "cpu" line in clock ticks.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal uint64
	cpus                                                  int
}

func (t cpuTimes) total() uint64 {
	return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal
}

// readCPUTimes reads root/proc/stat: the aggregate "cpu" line and how
// many "cpuN" lines follow it.
func readCPUTimes(root string) (cpuTimes, error) {
	path := filepath.Join(root, "proc", "stat")
	f, err := os.Open(path)
	if err != nil {
		return cpuTimes{}, err
	}
	defer f.Close()
	var t cpuTimes
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			t.cpus++
			continue
		}
		// cpu user nice system idle iowait irq softirq steal [guest guest_nice]
		if len(fields) < 9 {
			return cpuTimes{}, fmt.Errorf("%s: the cpu line has %d fields, want at least 9 (user … steal)", path, len(fields)-1)
		}
		v := make([]uint64, 8)
		for i := range v {
			if v[i], err = strconv.ParseUint(fields[i+1], 10, 64); err != nil {
				return cpuTimes{}, fmt.Errorf("%s: cpu field %d: %w", path, i+1, err)
			}
		}
		t.user, t.nice, t.system, t.idle, t.iowait, t.irq, t.softirq, t.steal = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		found = true
	}
	if err := sc.Err(); err != nil {
		return cpuTimes{}, fmt.Errorf("%s: %w", path, err)
	}
	if !found {
		return cpuTimes{}, fmt.Errorf("%s: no aggregate cpu line", path)
	}
	return t, nil
}

// cpuModel is root/proc/cpuinfo's first "model name" ("" if none).
func cpuModel(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "proc", "cpuinfo"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// load1 is root/proc/loadavg's 1-minute load (nil if unreadable).
func load1(root string) *float64 {
	b, err := os.ReadFile(filepath.Join(root, "proc", "loadavg"))
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return nil
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return nil
	}
	return &v
}

// hostCPUProbe reads the host's CPU state when a clean phase starts;
// finish reads it again and returns the record with the fractions over
// the phase, and a warning when steal reached StealWarnFraction.
type hostCPUProbe struct {
	root   string
	rec    batchdir.HostCPU
	before cpuTimes
	err    error
}

func startHostCPU(root string) *hostCPUProbe {
	p := &hostCPUProbe{root: root}
	p.rec.Model = cpuModel(root)
	p.rec.Load1 = load1(root)
	p.before, p.err = readCPUTimes(root)
	p.rec.CPUs = p.before.cpus
	return p
}

func (p *hostCPUProbe) finish() (*batchdir.HostCPU, string) {
	rec := p.rec
	if p.err != nil {
		if rec.Model == "" && rec.Load1 == nil {
			return nil, "" // nothing known about this host's CPUs
		}
		return &rec, ""
	}
	after, err := readCPUTimes(p.root)
	if err != nil {
		return &rec, ""
	}
	return fillHostCPU(&rec, p.before, after)
}

// fillHostCPU sets rec's fractions from two /proc/stat readings and says
// whether the steal deserves a warning ("" if not). Counters that went
// backwards (a reset, a bad read) leave the fractions unset.
func fillHostCPU(rec *batchdir.HostCPU, before, after cpuTimes) (*batchdir.HostCPU, string) {
	if after.total() <= before.total() || after.steal < before.steal || after.idle < before.idle {
		return rec, ""
	}
	d := float64(after.total() - before.total())
	frac := func(a, b uint64) *float64 {
		v := float64(a-b) / d
		return &v
	}
	busyA := after.user + after.nice + after.system + after.irq + after.softirq
	busyB := before.user + before.nice + before.system + before.irq + before.softirq
	if busyA < busyB || after.iowait < before.iowait {
		return rec, ""
	}
	rec.Busy = frac(busyA, busyB)
	rec.Steal = frac(after.steal, before.steal)
	rec.IOWait = frac(after.iowait, before.iowait)
	if *rec.Steal >= StealWarnFraction {
		return rec, fmt.Sprintf("host CPU steal %.1f %% during the clean phase: other guests of this VM's host took CPU time while the run measured (CPU-bound stages and kernel launches slow down)", 100**rec.Steal)
	}
	return rec, ""
}
