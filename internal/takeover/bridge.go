package takeover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// BridgeSettings are the kernel bridge settings a release puts back: the
// IFLA_BR_* attributes an operator sets (ip link ... type bridge, or
// ifupdown's bridge_* options), by iproute2's names.
type BridgeSettings map[string]uint64

// bridgeAttr is one IFLA_BR_* attribute and how it is encoded.
type bridgeAttr struct {
	name string
	typ  uint16
	size int  // bytes: 1, 2, 4 or 8
	be   bool // network byte order
}

// bridgeAttrs are the settings kept, in the order they are given back.
var bridgeAttrs = []bridgeAttr{
	{"stp_state", nl.IFLA_BR_STP_STATE, 4, false},
	{"forward_delay", nl.IFLA_BR_FORWARD_DELAY, 4, false},
	{"hello_time", nl.IFLA_BR_HELLO_TIME, 4, false},
	{"max_age", nl.IFLA_BR_MAX_AGE, 4, false},
	{"ageing_time", nl.IFLA_BR_AGEING_TIME, 4, false},
	{"priority", nl.IFLA_BR_PRIORITY, 2, false},
	{"vlan_protocol", nl.IFLA_BR_VLAN_PROTOCOL, 2, true},
	{"vlan_default_pvid", nl.IFLA_BR_VLAN_DEFAULT_PVID, 2, false},
	{"vlan_filtering", nl.IFLA_BR_VLAN_FILTERING, 1, false},
	{"group_fwd_mask", nl.IFLA_BR_GROUP_FWD_MASK, 2, false},
	{"mcast_snooping", nl.IFLA_BR_MCAST_SNOOPING, 1, false},
	{"mcast_router", nl.IFLA_BR_MCAST_ROUTER, 1, false},
	{"mcast_querier", nl.IFLA_BR_MCAST_QUERIER, 1, false},
	{"nf_call_iptables", nl.IFLA_BR_NF_CALL_IPTABLES, 1, false},
	{"nf_call_ip6tables", nl.IFLA_BR_NF_CALL_IP6TABLES, 1, false},
	{"nf_call_arptables", nl.IFLA_BR_NF_CALL_ARPTABLES, 1, false},
}

// readBridge returns the settings of kernel bridge idx.
func readBridge(idx int) (BridgeSettings, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(idx)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, fmt.Errorf("read bridge settings: %w", err)
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return nil, errors.New("read bridge settings: unexpected answer")
	}
	data, err := bridgeData(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, err
	}
	out := BridgeSettings{}
	for _, a := range bridgeAttrs {
		v, ok := data[a.typ]
		if !ok || len(v) < a.size {
			continue
		}
		out[a.name] = decode(v[:a.size], a.be)
	}
	return out, nil
}

// bridgeData returns the IFLA_INFO_DATA attributes of a link message.
func bridgeData(b []byte) (map[uint16][]byte, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, fmt.Errorf("read bridge settings: %w", err)
	}
	for _, a := range attrs {
		if a.Attr.Type != unix.IFLA_LINKINFO {
			continue
		}
		infos, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return nil, fmt.Errorf("read bridge settings: %w", err)
		}
		for _, i := range infos {
			if i.Attr.Type != nl.IFLA_INFO_DATA {
				continue
			}
			data, err := nl.ParseRouteAttr(i.Value)
			if err != nil {
				return nil, fmt.Errorf("read bridge settings: %w", err)
			}
			out := map[uint16][]byte{}
			for _, d := range data {
				out[d.Attr.Type&^unix.NLA_F_NESTED] = d.Value
			}
			return out, nil
		}
	}
	return nil, errors.New("read bridge settings: the link has no bridge data")
}

func decode(b []byte, be bool) uint64 {
	var order binary.ByteOrder = binary.NativeEndian
	if be {
		order = binary.BigEndian
	}
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(order.Uint16(b))
	case 4:
		return uint64(order.Uint32(b))
	}
	return order.Uint64(b)
}

func encode(v uint64, size int, be bool) []byte {
	var order binary.ByteOrder = binary.NativeEndian
	if be {
		order = binary.BigEndian
	}
	b := make([]byte, size)
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		order.PutUint16(b, uint16(v))
	case 4:
		order.PutUint32(b, uint32(v))
	default:
		order.PutUint64(b, v)
	}
	return b
}

// kernelBridge is what a release builds again: the bridge, its settings and
// its ports in order.
type kernelBridge struct {
	name  string
	mac   net.HardwareAddr
	mtu   int
	up    bool
	set   BridgeSettings
	ports []string
}

// createBridge makes the kernel bridge with its MAC and settings, enslaves
// its ports in order, sets its MTU and brings it up; it returns the
// bridge's ifindex. A half-made bridge is deleted. Only the settings that
// differ from a new bridge's are given, as a kernel may refuse to set one
// it was built without (vlan_filtering), even to its default.
func createBridge(kb kernelBridge) (idx int, err error) {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(kb.name)))
	if kb.mac != nil {
		req.AddData(nl.NewRtAttr(unix.IFLA_ADDRESS, kb.mac))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return 0, fmt.Errorf("create kernel bridge %s: %w", kb.name, err)
	}
	br, err := netlink.LinkByName(kb.name)
	if err != nil {
		return 0, fmt.Errorf("kernel bridge %s: %w", kb.name, err)
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(br)
		}
	}()
	if err := setBridge(br.Attrs().Index, kb.set); err != nil {
		return 0, fmt.Errorf("kernel bridge %s: %w", kb.name, err)
	}
	for _, p := range kb.ports {
		l, err := netlink.LinkByName(p)
		if err != nil {
			return 0, fmt.Errorf("kernel bridge %s: port %s: %w", kb.name, p, err)
		}
		if err := netlink.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
			return 0, fmt.Errorf("kernel bridge %s: enslave %s: %w", kb.name, p, err)
		}
	}
	if kb.mtu != 0 && br.Attrs().MTU != kb.mtu {
		if err := netlink.LinkSetMTU(br, kb.mtu); err != nil {
			return 0, fmt.Errorf("kernel bridge %s: set MTU %d: %w", kb.name, kb.mtu, err)
		}
	}
	if kb.up {
		if err := netlink.LinkSetUp(br); err != nil {
			return 0, fmt.Errorf("kernel bridge %s: set up: %w", kb.name, err)
		}
	}
	return br.Attrs().Index, nil
}

// setBridge gives bridge idx the settings of set that it has not.
func setBridge(idx int, set BridgeSettings) error {
	now, err := readBridge(idx)
	if err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(idx)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	var changed []string
	for _, a := range bridgeAttrs {
		if v, ok := set[a.name]; ok && now[a.name] != v {
			data.AddRtAttr(int(a.typ), encode(v, a.size, a.be))
			changed = append(changed, a.name)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set %v: %w", changed, err)
	}
	return nil
}
