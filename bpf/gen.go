package bpf

// The generated files are committed: a build needs no clang. Regenerate with
// `make generate` after changing xswitch.c.
//go:generate go tool bpf2go -tags linux -target bpfel -type fdb_key -type fdb_entry -type port -type port_stats -type meta xswitch xswitch.c -- -O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
