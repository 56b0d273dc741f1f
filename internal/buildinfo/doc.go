// Package buildinfo tells which vitlab is running: the module version, or
// the VCS revision it was built from ("dev" when neither is known). Ingest
// stores it in the warehouse and the collector in batch.json.
package buildinfo
