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
