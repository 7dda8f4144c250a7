package dataplane

// OpError is the error of an operation on a port. It names the kind of
// port, the interface and the operation, and unwraps to the cause: a
// syscall.Errno, net.ErrClosed, or a configuration error.
type OpError struct {
	Kind string // the port package, e.g. "afxdp" or "afpacket"
	Port string // interface name
	Op   string // what failed, e.g. "bind queue 0" or "sendmmsg"
	Err  error  // the cause; never nil
}

func (e *OpError) Error() string { return e.Kind + " " + e.Port + ": " + e.Op + ": " + e.Err.Error() }

func (e *OpError) Unwrap() error { return e.Err }

// OpErrors hands out the errors of one operation on one port, each made
// once per cause and then reused, so that a hot path that keeps failing
// (a full device queue, a pool run dry) does not allocate. Only one
// goroutine uses it at a time.
type OpErrors struct {
	Kind, Port, Op string
	errs           []*OpError
}

// Get returns the error for cause, which must be comparable (a
// syscall.Errno).
func (c *OpErrors) Get(cause error) error {
	for _, e := range c.errs {
		if e.Err == cause {
			return e
		}
	}
	e := &OpError{Kind: c.Kind, Port: c.Port, Op: c.Op, Err: cause}
	c.errs = append(c.errs, e)
	return e
}
