package fdb

import "time"

// start anchors Now; time.Since on a time with a monotonic reading costs one
// vDSO clock read and no allocation.
var start = time.Now()

// Now returns nanoseconds of the monotonic clock since the package started.
// All times the table stores and takes (the now arguments, Entry.LastSeen,
// Config.LastSeen) are on this clock, so tests can drive time by hand.
// Go's monotonic clock is CLOCK_MONOTONIC, so a kernel timestamp
// (bpf_ktime_get_ns) differs from Now by a constant offset, measured once.
func Now() int64 { return int64(time.Since(start)) }
