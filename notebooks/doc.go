// Package notebooks holds the analysts' Jupyter notebooks (one per research
// question and explore_run), their reader module vitlab_nb.py, the
// stdlib-only cell runner run_cells.py and the static checker
// check_notebooks.py. The Go code here is only the CI test: it runs the
// checker (structure through nbformat where installed, compiling cells, no
// absolute paths, no error outputs) and checks every table, column, finding
// and saved query a notebook reads against schemas.All() and the saved SQL,
// whose output columns it gets by running each query through package
// queries on an empty warehouse. A schema or query change that breaks a
// notebook fails `go test ./notebooks`.
package notebooks
