package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"vitlab/etl/warehouse"
)

// ErrDuplicateRun marks a run set aside because its content (its export
// and its run.json) is already in the warehouse under another batch:
// counting it again would count one measurement twice.
// Request.AllowDuplicateRuns lands it anyway (the check duplicate_runs then
// names it and usable_runs keeps only the earliest-committed copy).
var ErrDuplicateRun = errors.New("run already in the warehouse")

// runJSONBatchFields are the run.json keys that name where the batch
// directory was (the nsys and workload command lines hold its path): they
// are left out of a run's content identity, so that a copied or moved
// batch directory is still the same run.
var runJSONBatchFields = []string{"command", "clean_command"}

// runContentSHA256 is the content identity of a run: SHA-256 over the
// SHA-256 of its export (exportSHA, "" when it has none) and of its
// run.json (path runJSON) re-encoded without runJSONBatchFields, keys
// sorted; a bare export has no run.json, and its labels (the settings
// given on the command line, labels as JSON) stand in for it. Two runs
// with the same identity are one measurement; it is stored as
// runs.run_content_sha256 and in the manifest (warehouse.Batch.RunContent).
func runContentSHA256(exportSHA, runJSON, labels string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "vitlab run content\nexport %s\n", exportSHA)
	if runJSON == "" {
		fmt.Fprintf(h, "labels %s\n", labels)
	}
	if runJSON != "" {
		b, err := os.ReadFile(runJSON)
		if err != nil {
			return "", err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // numbers keep their text: no float rounding
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			return "", fmt.Errorf("%s: %w", runJSON, err)
		}
		for _, k := range runJSONBatchFields {
			delete(doc, k)
		}
		canon, err := json.Marshal(doc) // map keys sorted
		if err != nil {
			return "", fmt.Errorf("%s: %w", runJSON, err)
		}
		sum := sha256.Sum256(canon)
		fmt.Fprintf(h, "run.json %s\n", hex.EncodeToString(sum[:]))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// setAsideDuplicates gives every run of in its content identity
// (RunInput.ContentSHA256) and, unless allow, moves a run whose identity
// another committed batch of m already lists (batches other than batchID,
// which a replace supersedes) from in.Runs to in.Failed with
// ErrDuplicateRun, naming the batch and run that hold it. Two copies
// inside one ingest (bare exports with the same bytes and labels) both
// land, and so do copies of runs of batches committed before the manifest
// recorded run identities: the check duplicate_runs names those, and
// usable_runs counts them once.
func setAsideDuplicates(in *Inputs, m *warehouse.Manifest, batchID string, hashes map[string]fileHash, labels Labels, allow bool) {
	// identity → "batch B run R" of its earliest-committed holder
	held := map[string]string{}
	ids := m.BatchIDs()
	sort.SliceStable(ids, func(i, j int) bool { return m.Batches[ids[i]].CommittedAt.Before(m.Batches[ids[j]].CommittedAt) })
	for _, id := range ids {
		if id == batchID {
			continue
		}
		// runs in id order: two copies inside one batch name the first,
		// whatever the map's order
		content := m.Batches[id].RunContent
		runs := make([]string, 0, len(content))
		for run := range content {
			runs = append(runs, run)
		}
		sort.Strings(runs)
		for _, run := range runs {
			if _, ok := held[content[run]]; !ok {
				held[content[run]] = "batch " + id + " run " + run
			}
		}
	}
	kept := in.Runs[:0]
	for _, ri := range in.Runs {
		exportSHA := ""
		if ri.Export != "" {
			exportSHA = hashes[ri.Export].SHA256
		}
		sha, err := runContentSHA256(exportSHA, ri.RunJSON, labels.JSON())
		if err != nil {
			// run.json parsed once already (Discover): a file that changed
			// or vanished since is bad input, set aside like any other.
			in.Failed = append(in.Failed, Failure{Path: runPath(ri), Err: err})
			continue
		}
		ri.ContentSHA256 = sha
		if prev, ok := held[sha]; ok && !allow {
			in.Failed = append(in.Failed, Failure{Path: runPath(ri),
				Err: fmt.Errorf("%w: same content (export and run.json) as %s (land it anyway with --allow-duplicate-runs)", ErrDuplicateRun, prev)})
			continue
		}
		kept = append(kept, ri)
	}
	in.Runs = kept
}

// runPath names a run in messages: its run directory for a collector run,
// its export as given otherwise.
func runPath(ri *RunInput) string {
	if ri.RunJSON != "" {
		return filepath.Dir(ri.RunJSON)
	}
	return ri.Display
}

// runContent maps the run id of every run that lands to its content
// identity, for the manifest.
func runContent(loads []*load) map[string]string {
	out := map[string]string{}
	for _, ld := range loads {
		if ld != nil && ld.in.ContentSHA256 != "" {
			out[ld.in.RunID] = ld.in.ContentSHA256
		}
	}
	return out
}
