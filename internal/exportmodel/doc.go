// Package exportmodel holds the export's model-based test (docs/exports.md, "Replaying"):
// replaying the objects that `otsetl serve` processes export, under faults, rebuilds the
// source and the result tables. It has no code of its own; its test runs in a test binary
// of its own, within go test's time limit.
package exportmodel
