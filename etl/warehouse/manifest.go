package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// ManifestName is the manifest's file name in the warehouse root.
const ManifestName = "_manifest.json"

// ManifestFormat is the version of the manifest's JSON layout.
const ManifestFormat = 1

// Manifest lists the committed batches of a warehouse. A batch is visible to
// readers exactly when it is in the manifest; the manifest is replaced
// atomically (write temp, fsync, rename, fsync dir) as the last step of a
// commit.
type Manifest struct {
	Format        int               `json:"format"`
	SchemaVersion int               `json:"schema_version"`
	Batches       map[string]*Batch `json:"batches"`
}

// Batch is one committed batch.
type Batch struct {
	ID            string    `json:"id"`
	ContentSHA256 string    `json:"content_sha256"`
	Source        string    `json:"source"` // collector or exports
	CommittedAt   time.Time `json:"committed_at"`
	// Generation counts commits of this batch id (1, then 2 after a --replace …).
	Generation    int                   `json:"generation"`
	IngestVersion string                `json:"ingest_version"`
	SchemaVersion int                   `json:"schema_version"`
	Runs          int                   `json:"runs"`
	Failed        []FailedInput         `json:"failed,omitempty"`
	Tables        map[string]TableFiles `json:"tables"`
	// RunContent maps each run id of the batch to its content identity
	// (runs.run_content_sha256: its export and run.json), so that an
	// ingest can refuse a run the warehouse already holds under another
	// batch. Absent for batches committed before it was recorded.
	RunContent map[string]string `json:"run_content,omitempty"`
	// Derived are the tables the query layer derived from this generation
	// of the batch (CommitDerived), if any.
	Derived *Derived `json:"derived,omitempty"`
}

// FailedInput is an input set aside when its batch was committed.
type FailedInput struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// TableFiles lists one table's files of a batch, relative to the warehouse
// root with forward slashes, and their total rows.
type TableFiles struct {
	Files []string `json:"files"`
	Rows  int64    `json:"rows"`
}

// ReadManifest reads dir's manifest. A warehouse without one (new, or not yet
// committed to) has an empty manifest.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	return ParseManifest(dir, b)
}

// ParseManifest parses the bytes of dir's manifest file (nil: it has none
// yet, an empty manifest), as ReadManifest does.
func ParseManifest(dir string, b []byte) (*Manifest, error) {
	if b == nil {
		return &Manifest{Format: ManifestFormat, Batches: map[string]*Batch{}}, nil
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("warehouse: %s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.Format > ManifestFormat {
		return nil, fmt.Errorf("warehouse: %s has format %d, this vitlab reads up to %d: upgrade vitlab",
			filepath.Join(dir, ManifestName), m.Format, ManifestFormat)
	}
	if m.Batches == nil {
		m.Batches = map[string]*Batch{}
	}
	return &m, nil
}

// BatchIDs returns the committed batch ids in sorted order.
func (m *Manifest) BatchIDs() []string {
	ids := make([]string, 0, len(m.Batches))
	for id := range m.Batches {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Files returns every committed file of a table, relative to the warehouse
// root, in batch order.
func (m *Manifest) Files(table string) []string {
	var files []string
	for _, id := range m.BatchIDs() {
		files = append(files, m.Batches[id].Tables[table].Files...)
	}
	return files
}

// manifestTemp is the temporary file a new manifest is written to before it
// is renamed over ManifestName.
const manifestTemp = ManifestName + ".tmp"

// writeManifest replaces dir's manifest atomically: it writes a temporary
// file, fsyncs it, renames it over the manifest and fsyncs dir. The rename
// is the commit point: readers see the old manifest or the new one, never a
// mix, and a crash before it leaves the old one. The caller holds the
// warehouse lock.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("warehouse: manifest: %w", err)
	}
	b = append(b, '\n')
	tmp := filepath.Join(dir, manifestTemp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("warehouse: manifest: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("warehouse: manifest: %w", err)
	}
	CrashPoint("manifest: write temporary file")
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("warehouse: manifest: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("warehouse: manifest: %w", err)
	}
	CrashPoint("manifest: fsync temporary file")
	if err := os.Rename(tmp, filepath.Join(dir, ManifestName)); err != nil {
		return fmt.Errorf("warehouse: manifest: %w", err)
	}
	CrashPoint("manifest: rename (commit point)")
	if err := syncPath(dir); err != nil {
		return err
	}
	CrashPoint("manifest: fsync warehouse directory")
	return nil
}

// AllFiles returns every file of the batch, relative to the warehouse root,
// table by table in table name order.
func (b *Batch) AllFiles() []string {
	var files []string
	for _, t := range tableNames(b.Tables) {
		files = append(files, b.Tables[t].Files...)
	}
	return files
}

// tableNames returns the keys of tables, sorted.
func tableNames(tables map[string]TableFiles) []string {
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// validBatchID matches the batch ids the warehouse accepts: they name a
// hive partition directory (batch=<id>), so letters, digits, '.', '_' and
// '-', starting with a letter or digit, at most 128 bytes.
var validBatchID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckBatchID reports whether id can name a batch, and if not, why.
func CheckBatchID(id string) error {
	if !validBatchID.MatchString(id) {
		return fmt.Errorf("batch id %q: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}
