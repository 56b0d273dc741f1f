package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	// run executes the subcommand. It returns a usageError for bad
	// arguments, errPartial when some inputs failed but the rest landed.
	run func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand may touch of the process.
type env struct {
	stdout, stderr io.Writer
	// stderrIsTerminal enables progress lines.
	stderrIsTerminal bool
	getenv           func(string) string
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// usageError is a bad command line; main prints it and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errPartial says some inputs failed (each already reported) while the rest
// succeeded; main exits 1 without printing more.
var errPartial = errors.New("some inputs failed")

// newFlagSet returns a FlagSet that reports errors as usageError instead of
// exiting, and prints its usage to env's stderr on -h.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: vitlab %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, mapping flag errors to usageError. It returns
// flag.ErrHelp for -h, which main treats as success.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: vitlab <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'vitlab <command> -h' for a command's flags.")
}

// runMain is main without os.Exit, for tests.
func runMain(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		mainUsage(e.stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		mainUsage(e.stdout)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(e.stdout, "vitlab", version())
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "vitlab: unknown command %q\n", args[0])
		mainUsage(e.stderr)
		return 2
	}
	err := c.run(ctx, e, args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "vitlab %s: %s\n", c.name, ue.msg)
		fmt.Fprintf(e.stderr, "Run 'vitlab %s -h' for usage.\n", c.name)
		return 2
	case errors.Is(err, errPartial):
		return 1
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.stderr, "vitlab %s: interrupted\n", c.name)
		return 130
	default:
		fmt.Fprintf(e.stderr, "vitlab %s: %v\n", c.name, err)
		return 1
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stderrIsTerminal: isTerminal(os.Stderr), getenv: os.Getenv}
	// VITLAB_CPUPROFILE=FILE writes a CPU profile of the command for
	// go tool pprof (the Go side; DuckDB's own threads show as external code).
	if p := os.Getenv("VITLAB_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "vitlab: VITLAB_CPUPROFILE:", err)
			os.Exit(1)
		}
		code := runMain(ctx, e, os.Args[1:])
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(runMain(ctx, e, os.Args[1:]))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parseInterspersed parses flags placed before and after the positional
// arguments (vitlab query NAME --format csv) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
