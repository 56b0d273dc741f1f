package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
		return &Manifest{Format: ManifestFormat, Batches: map[string]*Batch{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
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
