package afxdp

// OpError is the error of an operation on a port. It names the interface and
// the operation, and unwraps to the cause: a syscall.Errno, net.ErrClosed, or
// a configuration error.
type OpError struct {
	Port string // interface name
	Op   string // what failed, e.g. "bind queue 0"
	Err  error  // the cause; never nil
}

func (e *OpError) Error() string { return "afxdp " + e.Port + ": " + e.Op + ": " + e.Err.Error() }

func (e *OpError) Unwrap() error { return e.Err }
