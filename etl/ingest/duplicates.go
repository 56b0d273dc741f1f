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

	"vitlab/etl/warehouse"
)

// ErrDuplicateRun marks a run set aside because its content (its export
// and its run.json) is already in the warehouse under another batch, or
// twice in this one: counting it again would count one measurement twice.
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
// run.json (path runJSON, "" for a bare export) re-encoded without
// runJSONBatchFields, keys sorted. Two runs with the same identity are one
// measurement; it is stored as runs.run_content_sha256 and in the manifest
// (warehouse.Batch.RunContent).
func runContentSHA256(exportSHA, runJSON string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "vitlab run content\nexport %s\n", exportSHA)
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
// which a replace supersedes), or an earlier run of in has, from in.Runs to
// in.Failed with ErrDuplicateRun, naming the batch and run that hold it.
// Batches committed before the manifest recorded run identities are not
// consulted: the check duplicate_runs finds copies of their runs.
func setAsideDuplicates(in *Inputs, m *warehouse.Manifest, batchID string, hashes map[string]fileHash, allow bool) {
	held := map[string]string{} // identity → "batch B run R"
	for _, id := range m.BatchIDs() {
		if id == batchID {
			continue
		}
		for run, sha := range m.Batches[id].RunContent {
			if prev, ok := held[sha]; !ok || "batch "+id+" run "+run < prev {
				held[sha] = "batch " + id + " run " + run
			}
		}
	}
	kept := in.Runs[:0]
	for _, ri := range in.Runs {
		exportSHA := ""
		if ri.Export != "" {
			exportSHA = hashes[ri.Export].SHA256
		}
		sha, err := runContentSHA256(exportSHA, ri.RunJSON)
		if err != nil {
			// run.json parsed once already (Discover): a file that changed
			// or vanished since is bad input, set aside like any other.
			in.Failed = append(in.Failed, Failure{Path: runPath(ri), Err: err})
			continue
		}
		ri.ContentSHA256 = sha
		if prev, ok := held[sha]; ok && !allow {
			in.Failed = append(in.Failed, Failure{Path: runPath(ri),
				Err: fmt.Errorf("%w: same export and run.json as %s (land it anyway with --allow-duplicate-runs)", ErrDuplicateRun, prev)})
			continue
		}
		if _, ok := held[sha]; !ok {
			held[sha] = "batch " + batchID + " run " + ri.RunID
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
