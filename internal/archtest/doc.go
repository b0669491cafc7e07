// Package archtest holds no code, only tests that keep the house rules of
// the repository true: the import layering of docs/architecture.md, a doc
// comment on every package, and no panics, process exits or package-level
// loggers in library code.
package archtest
