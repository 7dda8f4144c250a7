package bpf

// The generated files are committed: a build needs no clang. Regenerate with
// `make generate` after changing xswitch.c or its headers. The -type list
// gives the Go side the maps' entries and the enums of maps.h, so no
// constant is copied by hand.
//go:generate go tool bpf2go -tags linux -target bpfel -type fdb_key -type fdb_entry -type learn_event -type capture_event -type capture_dir -type capture_path -type port -type port_stats -type meta -type vlan_key -type addr_key -type port_flag -type fdb_flag -type punt_header -type trace -type trace_verdict -type punt_reason -type vlan_mode -type drop_reason -type addr_family -type storm_kind -type storm -type storm_bucket -type macs -type flood -type flood_port xswitch xswitch.c -- -O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
