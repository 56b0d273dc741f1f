// Package testfixtures finds the real nsys exports the tests run against
// and NVIDIA's nsys stats output for each (SOURCES.md beside them says
// where each export comes from and what it exercises).
//
// The folder is, in order: $VITLAB_FIXTURES; the project's shared copy,
// ../shared/fixtures beside the repository, when it exists (it may hold
// exports added after the repository's copy); the repository's own copy,
// testdata/fixtures, so that a clone anywhere tests the same way. Both
// hold nsys/ (the exports) and nsys_stats/ (<export>_<report>.csv and
// <export>.log).
package testfixtures
