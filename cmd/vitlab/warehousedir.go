package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// whEnv names the environment variable that points every command at a
// warehouse when --warehouse is not given.
const whEnv = "VITLAB_WAREHOUSE"

// warehouseFlag is --warehouse with the default users expect: the flag when
// given, else $VITLAB_WAREHOUSE, else ./warehouse.
type warehouseFlag struct {
	flag string
	e    *env
}

func newWarehouseFlag(fs *flag.FlagSet, e *env, doc string) *warehouseFlag {
	w := &warehouseFlag{e: e}
	fs.StringVar(&w.flag, "warehouse", "", doc+" (default: $"+whEnv+", else ./warehouse)")
	return w
}

// Dir is the warehouse directory, and how it was chosen (for errors).
func (w *warehouseFlag) Dir() (dir, how string) {
	switch {
	case w.flag != "":
		return w.flag, "from --warehouse"
	case w.e.getenv != nil && w.e.getenv(whEnv) != "":
		return w.e.getenv(whEnv), "from $" + whEnv
	}
	return "warehouse", "the default: --warehouse not given, $" + whEnv + " not set"
}

// Existing is the directory of a warehouse that must already exist; when it
// does not, the error says where it looked and how to make one.
func (w *warehouseFlag) Existing() (string, error) {
	dir, how := w.Dir()
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("no warehouse at %s (no such directory; %s): ingest a batch there first (make run, or vitlab ingest --warehouse DIR BATCH_DIR), or point --warehouse or $%s at one", abs, how, whEnv)
	}
	return dir, nil
}
