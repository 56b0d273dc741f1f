package warehouse

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// CrashEnv names the environment variable that makes this process kill
// itself with SIGKILL at the Nth crash point (counting from 1) of the
// ingest and commit sequence. It exists for tests: killing a commit at
// every step proves that a crash at any moment leaves a readable warehouse
// with every earlier batch intact. Unset (the normal case) it costs nothing.
const CrashEnv = "VITLAB_TEST_KILL_AT_STEP"

var crash struct {
	once sync.Once
	mu   sync.Mutex
	at   int // 0: never
	n    int
}

// CrashPoint marks one step of a multi-step change of the warehouse (a
// rename, an fsync, a removal). Under CrashEnv=N the Nth call prints the
// step to stderr and kills the process.
func CrashPoint(step string) {
	crash.once.Do(func() {
		crash.at, _ = strconv.Atoi(os.Getenv(CrashEnv))
	})
	if crash.at <= 0 {
		return
	}
	crash.mu.Lock()
	defer crash.mu.Unlock()
	crash.n++
	if crash.n == crash.at {
		fmt.Fprintf(os.Stderr, "vitlab: killed at step %d: %s\n", crash.n, step)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for { // the signal is on its way; never go past the step
			time.Sleep(time.Second)
		}
	}
}
