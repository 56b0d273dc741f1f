package runner

// warm.go: the warm start. Importing torch, timm and torchvision costs
// ~7 s of every clean phase on the lent hosts (cost_probe.py). With
// Config.WarmStart the collector starts one warm interpreter
// (collectors/workload/vit_zygote.py) per NUMA binding, which imports them
// once; each eager run's clean phase then executes vit_launch.py, which has
// the interpreter fork a fresh process for the run (its own session, CUDA
// context, model and workers; stdin/stdout/stderr, environment, directory
// and affinity handed over). The run is still its own process, so it stays
// the unit of replication. Compiled runs and the traced phase are executed
// as before: inductor's caches are set per run through the environment
// before torch is imported, and nsys must start the process it traces.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/numa"
	"vitlab/collectors/plan"
)

const (
	// ZygoteScript and LaunchScript are the warm start's two programs,
	// beside the workload.
	ZygoteScript = "vit_zygote.py"
	LaunchScript = "vit_launch.py"
	// WarmPreload is what the warm interpreter imports before its first
	// fork (missing ones are reported, not fatal).
	WarmPreload = "torch,timm,torchvision,vit_run,vit_sources"
	// warmReadyTimeout bounds the warm interpreter's imports.
	warmReadyTimeout = 3 * time.Minute
)

// warmServer is one running warm interpreter.
type warmServer struct {
	socket  string
	log     string
	cmd     *exec.Cmd
	exited  chan struct{}
	ready   string  // its ready line
	importS float64 // seconds its imports took
}

func (s *warmServer) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *warmServer) stop() {
	if s.cmd.Process == nil {
		return
	}
	if s.alive() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	os.Remove(s.socket)
}

// warmSeq numbers the warm interpreters' sockets of this process.
var warmSeq atomic.Int64

// warmPool holds the warm interpreters of a collection, one per NUMA
// binding (numactl prefix), started when a run first needs one.
type warmPool struct {
	servers map[string]*warmServer
	// sockets fixes each binding's socket path (commands() names it before
	// the server starts, so the dry run prints the real command).
	sockets map[string]string
	// failed records a binding whose interpreter could not start: its runs
	// are executed (cold) with the reason in their warnings.
	failed map[string]string
}

// warmEligible says whether a run's clean phase may be forked warm.
func (r *runner) warmEligible(run plan.Run) bool {
	if !r.cfg.WarmStart {
		return false
	}
	m := deref(run.Settings.CompileMode)
	return m == "" || m == "eager"
}

func warmKey(prefix []string) string { return strings.Join(prefix, "\x00") }

// warmSocket is the socket path of a binding's warm interpreter (short:
// a Unix socket path has at most 107 bytes).
func (r *runner) warmSocket(prefix []string) string {
	p := &r.warm
	if p.sockets == nil {
		p.sockets = map[string]string{}
	}
	k := warmKey(prefix)
	if s, ok := p.sockets[k]; ok {
		return s
	}
	// unique in this process too: shards side by side (--gpus) are runners
	// of one process
	s := filepath.Join(os.TempDir(), fmt.Sprintf("vitlab-warm-%d-%d.sock", os.Getpid(), warmSeq.Add(1)))
	p.sockets[k] = s
	return s
}

// warmArgv turns a workload argv (python script args...) into its warm
// launch: python vit_launch.py --socket S -- script args...
func (r *runner) warmArgv(prefix, wl []string) []string {
	argv := []string{wl[0], filepath.Join(r.cfg.WorkloadDir, LaunchScript), "--socket", r.warmSocket(prefix), "--"}
	return append(argv, wl[1:]...)
}

// warmUp makes sure the warm interpreter of a binding runs before a run's
// clean phase is launched through it. It returns "" when it runs, else why
// not (the run is then executed cold and says so). A server that died is
// started again.
func (r *runner) warmUp(ctx context.Context, prefix []string) string {
	p := &r.warm
	k := warmKey(prefix)
	if why, bad := p.failed[k]; bad {
		return why
	}
	if s := p.servers[k]; s != nil {
		if s.alive() {
			return ""
		}
		fmt.Fprintf(r.cfg.Progress, "warning: the warm interpreter (%s) ended; starting another\n", s.log)
		s.stop()
		delete(p.servers, k)
	}
	s, err := r.startWarm(ctx, prefix)
	if err != nil {
		if p.failed == nil {
			p.failed = map[string]string{}
		}
		why := fmt.Sprintf("warm start unavailable, the clean phase was executed: %v", err)
		p.failed[k] = why
		fmt.Fprintf(r.cfg.Progress, "warning: %s\n", why)
		return why
	}
	if p.servers == nil {
		p.servers = map[string]*warmServer{}
	}
	p.servers[k] = s
	fmt.Fprintf(r.cfg.Progress, "warm interpreter ready in %.1f s (%s)\n", s.importS, strings.TrimPrefix(s.ready, "VITLAB_ZYGOTE ready "))
	return ""
}

// startWarm starts a warm interpreter under the binding's prefix, with the
// clean phase's environment, and waits for its ready line.
func (r *runner) startWarm(ctx context.Context, prefix []string) (*warmServer, error) {
	sock := r.warmSocket(prefix)
	os.Remove(sock)
	// warm-<pid>-<n>.log, after its socket: one per interpreter, also with
	// shards of one process writing into one batch directory
	logPath := filepath.Join(r.dir, strings.TrimPrefix(strings.TrimSuffix(filepath.Base(sock), ".sock"), "vitlab-")+".log")
	argv := append(append([]string{}, prefix...), r.cfg.Python, filepath.Join(r.cfg.WorkloadDir, ZygoteScript),
		"--socket", sock, "--path", r.cfg.WorkloadDir, "--preload", WarmPreload, "--log", logPath)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==> %s\n", shellJoin(argv))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = r.env(false)
	cmd.Dir = r.dir
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", ZygoteScript, err)
	}
	s := &warmServer{socket: sock, log: logPath, cmd: cmd, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		if first {
			close(lines)
		}
	}()
	go func() { cmd.Wait(); close(s.exited) }()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "VITLAB_ZYGOTE ready ") {
			s.stop()
			if !ok {
				<-s.exited
				return nil, fmt.Errorf("%s ended before it was ready (%s; see %s)", ZygoteScript, cmd.ProcessState, logPath)
			}
			return nil, fmt.Errorf("%s: %s (see %s)", ZygoteScript, line, logPath)
		}
		s.ready = line
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "import_s="); ok {
				s.importS, _ = strconv.ParseFloat(v, 64)
			}
		}
		return s, nil
	case <-time.After(warmReadyTimeout):
		s.stop()
		return nil, fmt.Errorf("%s was not ready after %s (see %s)", ZygoteScript, warmReadyTimeout, logPath)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// closeWarm stops every warm interpreter (the end of a collection).
func (r *runner) closeWarm() {
	for _, s := range r.warm.servers {
		s.stop()
	}
	r.warm.servers = nil
}

// warmClean decides how a run's clean phase starts: the warm launch
// (commands' clean argv; rec.Launch = warm) when its interpreter runs, else
// the executed command, with the reason in warn.
func (r *runner) warmClean(ctx context.Context, run plan.Run, b numa.Binding, rec *batchdir.Run, clean []string, warn *[]string) []string {
	if !r.warmEligible(run) {
		return clean
	}
	if why := r.warmUp(ctx, b.Prefix(r.numactlPath())); why != "" {
		*warn = append(*warn, why)
		return r.coldClean(run, b)
	}
	rec.Launch = batchdir.LaunchWarm
	return clean
}
