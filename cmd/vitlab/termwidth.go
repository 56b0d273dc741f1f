package main

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// defaultTableWidth is the width a table is fitted to when neither
// $COLUMNS nor the terminal says.
const defaultTableWidth = 120

// tableWidth is the width --format table fits its lines to: $COLUMNS, else
// the width of the terminal stdout is, else 120.
func tableWidth(e *env) int {
	if e.getenv != nil {
		if c, err := strconv.Atoi(e.getenv("COLUMNS")); err == nil && c >= 20 {
			return c
		}
	}
	if e.stdout == os.Stdout {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdout.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col >= 20 {
			return int(ws.Col)
		}
	}
	return defaultTableWidth
}
