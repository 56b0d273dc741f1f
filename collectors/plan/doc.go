// Package plan reads experiment plans: YAML files that describe a matrix of
// ViT inference configurations to run under the collector
// (collectors/plans/README.md documents the schema).
//
// In: a plan file (Load, Parse). The YAML is read through
// github.com/goccy/go-yaml's syntax tree, so every refusal names its place:
// an unknown key, a value of the wrong type or outside its range, or an
// impossible combination (resolution not a multiple of patch, a queue depth
// with a sync pipeline) is an *Error printed as "file:line:col: message";
// all problems of a file come back together as an ErrorList.
//
// Out: Expand applies one profile (for example quick or full) and returns the
// runs: the cartesian product of the matrix axes, minus exclude, plus
// include, with overrides applied, each configuration repeated (three times
// unless the plan allows fewer) and interleaved repeat by repeat. Every run
// has a deterministic ID that is a safe file name, such as
// rq1-p16-d12-h768-r224-b64-eager-sync-q1-cpu-nnone-r1, and carries its
// requested settings as a batchdir.Settings. The ID only names the run
// directory: the settings are recorded in run.json and never parsed back.
//
// The package does not know the host: NUMA placement (local, remote) is kept
// as requested and resolved by collectors/numa at run time.
package plan
