package testfixtures

import (
	"os"
	"path/filepath"
	"runtime"
)

// Env names a fixtures folder that takes precedence over the others.
const Env = "VITLAB_FIXTURES"

// Root returns the fixtures folder (absolute).
func Root() string {
	if d := os.Getenv(Env); d != "" {
		abs, err := filepath.Abs(d)
		if err == nil {
			return abs
		}
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	shared := filepath.Join(repo, "..", "shared", "fixtures")
	if st, err := os.Stat(filepath.Join(shared, "nsys")); err == nil && st.IsDir() {
		return filepath.Clean(shared)
	}
	return filepath.Join(repo, "testdata", "fixtures")
}

// Nsys returns the folder of the fixture exports (*.sqlite).
func Nsys() string { return filepath.Join(Root(), "nsys") }

// Stats returns the folder of nsys stats output of the fixture exports.
func Stats() string { return filepath.Join(Root(), "nsys_stats") }

// Export returns the path of the fixture export named name (e.g.
// "h100_tiny_conv_nvtx.sqlite").
func Export(name string) string { return filepath.Join(Nsys(), name) }
