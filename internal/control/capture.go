package control

import (
	"fmt"
	"strings"
)

// GET /v1/capture?port=PORT[&bridge=B][&count=N][&mac=M][&vlan=N][&ethertype=T]
// streams the port's frames as pcapng until count frames, the client
// leaves, or the port goes. Each frame's interface tells its direction and
// path: the interfaces are named after the port, and described by
// CaptureInterfaceDescription. At the end an interface statistics block
// says how many frames the capture lost to a slow reader.

// CaptureInterfaceDescription describes the pcapng interface of the frames
// of port that went in direction dir ("in" or "out") by path ("userspace",
// "tc" or "xdp").
func CaptureInterfaceDescription(port, dir, path string) string {
	return fmt.Sprintf("%s %s %s", port, dir, path)
}

// ParseCaptureInterfaceDescription reads what CaptureInterfaceDescription
// wrote.
func ParseCaptureInterfaceDescription(s string) (port, dir, path string, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return "", "", "", false
	}
	return f[0], f[1], f[2], true
}
