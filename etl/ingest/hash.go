package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"

	"vitlab/schemas"
)

// fileHash is the SHA-256 of one input file, or why it could not be read.
type fileHash struct {
	SHA256 string
	Size   int64
	Err    error
}

// hashFiles hashes files with jobs goroutines, keyed by path.
func hashFiles(ctx context.Context, files []InputFile, jobs int) (map[string]fileHash, error) {
	out := make(map[string]fileHash, len(files))
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range max(1, min(jobs, len(files))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				h := hashFile(p)
				mu.Lock()
				out[p] = h
				mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for _, f := range files {
		select {
		case work <- f.Path:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	return out, err
}

func hashFile(path string) fileHash {
	f, err := os.Open(path)
	if err != nil {
		return fileHash{Err: err}
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileHash{Err: err}
	}
	return fileHash{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
}

// contentHash is the identity of a batch's content: SHA-256 over the schema
// version, every input file as (relative path, SHA-256) in path order, and
// the labels. An unreadable file enters with its error, so the same broken
// input hashes the same.
func contentHash(files []InputFile, hashes map[string]fileHash, labels Labels) string {
	sorted := append([]InputFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Rel < sorted[j].Rel })
	h := sha256.New()
	fmt.Fprintf(h, "vitlab ingest content\nschema_version %s\n", strconv.Itoa(schemas.Version))
	for _, f := range sorted {
		fh := hashes[f.Path]
		if fh.Err != nil {
			fmt.Fprintf(h, "file %q unreadable %q\n", f.Rel, unwrapPath(fh.Err).Error())
			continue
		}
		fmt.Fprintf(h, "file %q %s\n", f.Rel, fh.SHA256)
	}
	fmt.Fprintf(h, "labels %s\n", labels.JSON())
	return hex.EncodeToString(h.Sum(nil))
}
