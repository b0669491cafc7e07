// Package bench holds peerchain's benchmarks. Each measures peerchain and a
// baseline written directly on its dependencies in the same run and prints
// the ratio against the goals of PERF.md; bench/README.md records the
// figures. It has no code of its own outside the _test files.
package bench
