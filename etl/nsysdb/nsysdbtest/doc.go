// Package nsysdbtest builds, alters and damages SQLite files for the tests
// of the nsys export reader and of its users: synthetic exports written
// table by table, copies of real exports with tables dropped, pages of a
// chosen table overwritten. It is the test-side twin of package nsysdb and,
// like it, wraps the SQLite driver (modernc.org/sqlite); production code
// never imports it.
package nsysdbtest
