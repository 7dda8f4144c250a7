package fdb

import "time"

// Defaults follow the Linux bridge (ageing_time 300 s) and bound a table so
// that one guest inventing source MACs cannot grow it without limit.
const (
	DefaultAgingTime  = 300 * time.Second
	DefaultMaxPerPort = 4096
	DefaultMaxEntries = 65536
)

// Config sets the behaviour of one Table. The zero Config is valid: entries
// never age and the limits are the defaults. Use DefaultConfig for the usual
// settings.
type Config struct {
	// AgingTime is how long a dynamic entry lives without a frame from its MAC.
	// 0 (or negative) means entries never age, like the kernel's ageing_time 0;
	// New does not replace it with DefaultAgingTime.
	AgingTime time.Duration
	// MaxPerPort bounds the dynamic entries one port may hold; learning past
	// it is refused. 0 (or negative) means DefaultMaxPerPort.
	MaxPerPort int
	// MaxEntries bounds the dynamic entries of the whole table; learning past
	// it evicts. 0 (or negative) means DefaultMaxEntries.
	MaxEntries int
	// LastSeen, if not nil, is asked by Age about each entry it is about to
	// expire, for entries refreshed where the table does not see them (the
	// kernel fast path). A time newer than the entry's is stored in the entry,
	// and the entry is kept if that time is within AgingTime. The time must be
	// on the Now clock. It runs with the table locked: it must not block for
	// long or call into the table.
	LastSeen func(Key) (int64, bool)
}

// DefaultConfig returns aging after 300 s, 4096 dynamic entries per port and
// 65536 per table.
func DefaultConfig() Config {
	return Config{
		AgingTime:  DefaultAgingTime,
		MaxPerPort: DefaultMaxPerPort,
		MaxEntries: DefaultMaxEntries,
	}
}
