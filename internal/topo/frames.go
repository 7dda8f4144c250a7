package topo

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The builders below make frames for tests and benchmarks, never for the
// forwarding path. They lay frames out as on the wire without FCS, padded to
// the 60-byte minimum, and panic on arguments no frame can be made from.

// MAC returns the locally administered unicast address 02:58:nn:nn:nn:nn,
// nn being n big-endian: distinct for every n in uint32.
func MAC(n int) net.HardwareAddr {
	m := net.HardwareAddr{0x02, 0x58, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[2:], uint32(n))
	return m
}

// EtherFrame returns an Ethernet frame carrying payload.
func EtherFrame(dst, src net.HardwareAddr, ethertype uint16, payload []byte) []byte {
	return serialize(&layers.Ethernet{DstMAC: dst, SrcMAC: src, EthernetType: layers.EthernetType(ethertype)}, gopacket.Payload(payload))
}

// UDPFrame returns an Ethernet frame of a UDP datagram over IPv4 or IPv6
// (src and dst must be of one family) with correct lengths and checksums.
func UDPFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	src, dst = src.Unmap(), dst.Unmap()
	if src.Is4() != dst.Is4() {
		panic(fmt.Sprintf("topo: UDPFrame from %s to %s: mixed address families", src, dst))
	}
	eth := &layers.Ethernet{DstMAC: dstMAC, SrcMAC: srcMAC}
	udp := &layers.UDP{SrcPort: layers.UDPPort(srcPort), DstPort: layers.UDPPort(dstPort)}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if err := udp.SetNetworkLayerForChecksum(ip4); err != nil {
			panic(err)
		}
		ip = ip4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if err := udp.SetNetworkLayerForChecksum(ip6); err != nil {
			panic(err)
		}
		ip = ip6
	}
	return serialize(eth, ip, udp, gopacket.Payload(payload))
}

// ARPRequest returns a broadcast ARP request from srcMAC/srcIP asking for
// target. With target == srcIP it is a gratuitous ARP.
func ARPRequest(srcMAC net.HardwareAddr, srcIP, target netip.Addr) []byte {
	return arp(layers.ARPRequest, srcMAC, srcIP, layers.EthernetBroadcast, net.HardwareAddr{0, 0, 0, 0, 0, 0}, target)
}

// ARPReply returns an ARP reply from srcMAC/srcIP to dstMAC/dstIP.
func ARPReply(srcMAC net.HardwareAddr, srcIP netip.Addr, dstMAC net.HardwareAddr, dstIP netip.Addr) []byte {
	return arp(layers.ARPReply, srcMAC, srcIP, dstMAC, dstMAC, dstIP)
}

func arp(op uint16, srcMAC net.HardwareAddr, srcIP netip.Addr, ethDst, dstMAC net.HardwareAddr, dstIP netip.Addr) []byte {
	srcIP, dstIP = srcIP.Unmap(), dstIP.Unmap()
	if !srcIP.Is4() || !dstIP.Is4() {
		panic(fmt.Sprintf("topo: ARP between %s and %s: not IPv4", srcIP, dstIP))
	}
	return serialize(
		&layers.Ethernet{DstMAC: ethDst, SrcMAC: srcMAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: srcMAC, SourceProtAddress: srcIP.AsSlice(),
			DstHwAddress: dstMAC, DstProtAddress: dstIP.AsSlice(),
		},
	)
}

// Tag returns a copy of frame with a VLAN tag (tpid 0x8100 for 802.1Q,
// 0x88a8 for 802.1ad; tci holds PCP, DEI and VID) inserted after the MAC
// addresses, outside any tag already there.
func Tag(frame []byte, tpid, tci uint16) []byte {
	if len(frame) < 12 {
		panic(fmt.Sprintf("topo: Tag: %d-byte frame has no MAC addresses", len(frame)))
	}
	out := make([]byte, 0, len(frame)+4)
	out = append(out, frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, frame[12:]...)
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("topo: serialize frame: %v", err))
	}
	return buf.Bytes()
}
