package afpacket

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/packetsock"
)

// Open opens a port on the network interface ifname, in the network
// namespace of the calling thread. The socket sees every frame the interface
// receives (or, with cfg.PuntEtherType, every frame the fast path punts),
// in promiscuous mode, and none of the frames it transmits. Zero fields of
// cfg take their value from VifConfig.
func Open(ifname string, cfg Config) (*Port, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, opError(ifname, "config", err)
	}
	// Protocol 0: the socket is not hooked to any device until bind, so
	// nothing is queued before the ring exists.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opError(ifname, "socket", err)
	}
	mem, ifindex, op, err := setup(fd, ifname, cfg)
	if err != nil {
		if mem != nil {
			unix.Munmap(mem)
		}
		unix.Close(fd)
		return nil, opError(ifname, op, err)
	}
	txfd, op, err := openSender(ifindex, cfg)
	if err != nil {
		unix.Munmap(mem)
		unix.Close(fd)
		return nil, opError(ifname, op, err)
	}
	return newPort(ifname, cfg, os.NewFile(uintptr(fd), "afpacket:"+ifname), os.NewFile(uintptr(txfd), "afpacket-tx:"+ifname), mem)
}

// openSender opens the socket a port sends on. It is not the receiving
// socket: a socket in Go's netpoller pays an epoll wake-up for every frame
// it sent that the kernel frees (the write-space callback), and sending
// needs no netpoller (Send never waits). So it is a blocking descriptor,
// which the netpoller leaves alone, used with MSG_DONTWAIT; bound with
// protocol 0 it receives nothing, and the kernel takes each frame's
// protocol from its header.
func openSender(ifindex int, cfg Config) (fd int, op string, err error) {
	fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "socket", err
	}
	op, err = setupSender(fd, ifindex, cfg)
	if err != nil {
		unix.Close(fd)
		return -1, op, err
	}
	return fd, "", nil
}

func setupSender(fd, ifindex int, cfg Config) (op string, err error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return "setsockopt PACKET_VNET_HDR (sender)", err
	}
	// Send straight to the driver: a switch port forwards, the qdisc is the
	// guest's business.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return "setsockopt PACKET_QDISC_BYPASS", err
	}
	// SO_SNDBUFFORCE passes net.core.wmem_max, which is far below a
	// super-frame batch by default; without CAP_NET_ADMIN, take what
	// SO_SNDBUF gives.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cfg.SndBuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.SndBuf); err != nil {
			return "setsockopt SO_SNDBUF", err
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return "bind (sender)", err
	}
	return "", nil
}

// setup configures the fresh socket fd, in the order the kernel requires
// (the virtio-net header and the version before the ring, bind last). It
// returns the mapped ring, if it got that far, the interface's index, and on
// error the operation that failed. Closing fd undoes everything but the
// mapping, including the promiscuous mode.
func setup(fd int, ifname string, cfg Config) ([]byte, int, string, error) {
	mem, ifindex, op, err := prepare(fd, ifname, cfg)
	if err != nil {
		return mem, 0, op, err
	}
	// Bound to ETH_P_ALL, the socket sees every frame; bound to the punt
	// ethertype, only those the fast path leaves to userspace.
	proto := uint16(unix.ETH_P_ALL)
	if cfg.PuntEtherType != 0 {
		proto = cfg.PuntEtherType
	}
	sa := unix.SockaddrLinklayer{Protocol: packetsock.Htons(proto), Ifindex: ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return mem, 0, "bind", err
	}
	return mem, ifindex, "", nil
}

// prepare does all of setup but the bind, which comes last.
func prepare(fd int, ifname string, cfg Config) (mem []byte, ifindex int, op string, err error) {
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return nil, 0, "interface name", err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return nil, 0, "ioctl SIOCGIFINDEX", err
	}
	ifindex = int(ifr.Uint32())

	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return nil, 0, "setsockopt PACKET_VNET_HDR", err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, 0, "setsockopt PACKET_VERSION", err
	}
	req := unix.TpacketReq3{
		Block_size: uint32(cfg.BlockSize),
		Block_nr:   uint32(cfg.BlockCount),
		// A V3 ring packs frames of any size into blocks; the kernel only
		// checks that frames tile the blocks, so one "frame" per block.
		Frame_size:     uint32(cfg.BlockSize),
		Frame_nr:       uint32(cfg.BlockCount),
		Retire_blk_tov: uint32(cfg.BlockTimeout.Milliseconds()),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, 0, "setsockopt PACKET_RX_RING", err
	}
	mem, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, 0, "mmap", err
	}
	// The switch must not see what the interface transmits: its own
	// forwarded frames, nor anyone else's.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return mem, 0, "setsockopt PACKET_IGNORE_OUTGOING", err
	}
	if err := packetsock.AddPromiscuous(fd, ifindex); err != nil {
		return mem, 0, "setsockopt PACKET_ADD_MEMBERSHIP", err
	}
	return mem, ifindex, "", nil
}

var _ dataplane.Port = (*Port)(nil)

func opError(port, op string, err error) *dataplane.OpError {
	return &dataplane.OpError{Kind: "afpacket", Port: port, Op: op, Err: err}
}
