// Package netstate snapshots what a network namespace's stack holds that a
// takeover moves (links, addresses, routes of every table) and compares two
// snapshots line by line, in the words of `ip`.
package netstate

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Snapshot is a namespace's links, addresses and routes, each as one
// canonical line. Lines name links, never ifindexes, so that a link deleted
// and made again compares equal.
type Snapshot struct {
	Links  []Link
	Addrs  []Addr
	Routes []Route
}

// Link is one network interface.
type Link struct {
	Index  int
	Name   string
	Kind   string // netlink's type: veth, bridge, device, ...
	MAC    string
	MTU    int
	Flags  string // up, broadcast, multicast, ... as net.Flags prints them
	Master string // "" when it has none
	Alias  string
}

// Addr is one IPv4 or IPv6 address of a link.
type Addr struct {
	Link      string
	Family    string // inet or inet6
	Prefix    string // address/length
	Peer      string // point-to-point peer; "" without one
	Broadcast string
	Scope     string
	Flags     []string // as `ip addr` names them: secondary, nodad, permanent, ...
	Label     string
	// Lifetimes in seconds, both 0 when the address is permanent. They
	// count down, so comparisons usually mask them (Mask.Lifetimes).
	ValidLft, PreferredLft int
}

// Route is one route of any table.
type Route struct {
	Table    string
	Type     string
	Dst      string
	Proto    string
	Scope    string
	Dev      string
	Gw       string
	Src      string // the source hint
	Metric   int
	Nexthops []string // multipath: "via GW dev DEV weight W"
	Extra    string   // metrics (mtu, advmss, ...) and flags
}

// Take snapshots the namespace nl works in.
func Take(nl *netlink.Handle) (*Snapshot, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netstate: list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	s := &Snapshot{}
	for _, l := range links {
		a := l.Attrs()
		s.Links = append(s.Links, Link{Index: a.Index, Name: a.Name, Kind: l.Type(), MAC: a.HardwareAddr.String(), MTU: a.MTU,
			Flags: a.Flags.String(), Master: names[a.MasterIndex], Alias: a.Alias})
	}
	addrs, err := nl.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("netstate: list addresses: %w", err)
	}
	for _, a := range addrs {
		s.Addrs = append(s.Addrs, addrOf(a, names[a.LinkIndex]))
	}
	routes, err := nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("netstate: list routes: %w", err)
	}
	for _, r := range routes {
		s.Routes = append(s.Routes, routeOf(r, names))
	}
	return s, nil
}

// forever is the lifetime of a permanent address.
const forever = 0xffffffff

func addrOf(a netlink.Addr, link string) Addr {
	out := Addr{Link: link, Family: "inet", Prefix: a.IPNet.String(), Scope: scopeName(a.Scope), Flags: AddrFlags(a.Flags), Label: a.Label}
	if a.IP.To4() == nil {
		out.Family = "inet6"
	}
	if a.Peer != nil {
		out.Peer = a.Peer.String()
	}
	if a.Broadcast != nil {
		out.Broadcast = a.Broadcast.String()
	}
	if uint32(a.ValidLft) != forever {
		out.ValidLft, out.PreferredLft = a.ValidLft, a.PreferedLft
	}
	return out
}

// addrFlagNames are the IFA_F_* flags by bit, as iproute2 prints them.
var addrFlagNames = []struct {
	bit  int
	name string
}{
	{unix.IFA_F_SECONDARY, "secondary"}, {unix.IFA_F_NODAD, "nodad"}, {unix.IFA_F_OPTIMISTIC, "optimistic"},
	{unix.IFA_F_DADFAILED, "dadfailed"}, {unix.IFA_F_HOMEADDRESS, "home"}, {unix.IFA_F_DEPRECATED, "deprecated"},
	{unix.IFA_F_TENTATIVE, "tentative"}, {unix.IFA_F_PERMANENT, "permanent"}, {unix.IFA_F_MANAGETEMPADDR, "mngtmpaddr"},
	{unix.IFA_F_NOPREFIXROUTE, "noprefixroute"}, {unix.IFA_F_MCAUTOJOIN, "autojoin"}, {unix.IFA_F_STABLE_PRIVACY, "stable-privacy"},
}

// AddrFlags names the IFA_F_* bits of flags.
func AddrFlags(flags int) []string {
	var out []string
	for _, f := range addrFlagNames {
		if flags&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

func scopeName(s int) string {
	switch s {
	case unix.RT_SCOPE_UNIVERSE:
		return "global"
	case unix.RT_SCOPE_SITE:
		return "site"
	case unix.RT_SCOPE_LINK:
		return "link"
	case unix.RT_SCOPE_HOST:
		return "host"
	case unix.RT_SCOPE_NOWHERE:
		return "nowhere"
	}
	return fmt.Sprint(s)
}

func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_MAIN:
		return "main"
	case unix.RT_TABLE_LOCAL:
		return "local"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	}
	return fmt.Sprint(t)
}

func typeName(t int) string {
	names := map[int]string{unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
		unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole",
		unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw", unix.RTN_NAT: "nat"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprint(t)
}

func routeOf(r netlink.Route, names map[int]string) Route {
	out := Route{Table: tableName(r.Table), Type: typeName(r.Type), Dst: "default", Proto: r.Protocol.String(), Scope: scopeName(int(r.Scope)),
		Dev: names[r.LinkIndex], Metric: r.Priority}
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones > 0 {
			out.Dst = r.Dst.String()
		}
	}
	if r.Gw != nil {
		out.Gw = r.Gw.String()
	}
	if r.Src != nil {
		out.Src = r.Src.String()
	}
	for _, nh := range r.MultiPath {
		out.Nexthops = append(out.Nexthops, fmt.Sprintf("via %s dev %s weight %d", ipString(nh.Gw), names[nh.LinkIndex], nh.Hops+1))
	}
	var extra []string
	for _, m := range []struct {
		name string
		v    int
	}{{"mtu", r.MTU}, {"advmss", r.AdvMSS}, {"hoplimit", r.Hoplimit}, {"initcwnd", r.InitCwnd}, {"initrwnd", r.InitRwnd},
		{"window", r.Window}, {"rtt", r.Rtt}, {"rttvar", r.RttVar}, {"ssthresh", r.Ssthresh}, {"cwnd", r.Cwnd}, {"tos", r.Tos},
		{"realm", r.Realm}, {"quickack", r.QuickACK}, {"features", r.Features}, {"rto_min", r.RtoMin}, {"flags", r.Flags}} {
		if m.v != 0 {
			extra = append(extra, fmt.Sprintf("%s %d", m.name, m.v))
		}
	}
	if r.Congctl != "" {
		extra = append(extra, "congctl "+r.Congctl)
	}
	out.Extra = strings.Join(extra, " ")
	return out
}

func ipString(ip net.IP) string {
	if ip == nil {
		return "-"
	}
	return ip.String()
}

// String is the link as one line, without its ifindex.
func (l Link) String() string {
	s := fmt.Sprintf("link %s %s mac %s mtu %d <%s>", l.Name, l.Kind, l.MAC, l.MTU, l.Flags)
	if l.Master != "" {
		s += " master " + l.Master
	}
	if l.Alias != "" {
		s += fmt.Sprintf(" alias %q", l.Alias)
	}
	return s
}

// String is the address as one line, like `ip addr` shows it.
func (a Addr) String() string {
	s := fmt.Sprintf("addr %s %s %s", a.Link, a.Family, a.Prefix)
	if a.Peer != "" {
		s += " peer " + a.Peer
	}
	if a.Broadcast != "" {
		s += " brd " + a.Broadcast
	}
	s += " scope " + a.Scope
	if len(a.Flags) > 0 {
		s += " " + strings.Join(a.Flags, " ")
	}
	if a.Label != "" && a.Label != a.Link {
		s += " label " + a.Label
	}
	if a.ValidLft != 0 || a.PreferredLft != 0 {
		s += fmt.Sprintf(" valid_lft %ds preferred_lft %ds", a.ValidLft, a.PreferredLft)
	}
	return s
}

// String is the route as one line, like `ip route show table all` shows it.
func (r Route) String() string {
	s := fmt.Sprintf("route table %s %s %s proto %s scope %s", r.Table, r.Type, r.Dst, r.Proto, r.Scope)
	if r.Gw != "" {
		s += " via " + r.Gw
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Src != "" {
		s += " src " + r.Src
	}
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	for _, nh := range r.Nexthops {
		s += " nexthop " + nh
	}
	if r.Extra != "" {
		s += " " + r.Extra
	}
	return s
}

// Mask says what a comparison ignores.
type Mask struct {
	// Lifetimes ignores how long dynamic addresses have left: they count
	// down between two snapshots.
	Lifetimes bool
	// Links ignores these links (names) with their addresses and routes,
	// e.g. interfaces the comparison is not about.
	Links []string
}

// Lines returns the snapshot as sorted lines with m applied.
func (s *Snapshot) Lines(m Mask) []string {
	skip := map[string]bool{}
	for _, n := range m.Links {
		skip[n] = true
	}
	var out []string
	for _, l := range s.Links {
		if !skip[l.Name] {
			out = append(out, l.String())
		}
	}
	for _, a := range s.Addrs {
		if skip[a.Link] {
			continue
		}
		if m.Lifetimes {
			a.ValidLft, a.PreferredLft = 0, 0
		}
		out = append(out, a.String())
	}
	for _, r := range s.Routes {
		if !skip[r.Dev] {
			out = append(out, r.String())
		}
	}
	for _, o := range s.addrOrder() {
		if !skip[o.link] {
			out = append(out, "order "+o.link+": "+strings.Join(o.prefixes, " "))
		}
	}
	sort.Strings(out)
	return out
}

// Diff returns what differs between before and after, one line per
// difference: "- line" only before, "+ line" only after. Empty means equal.
func Diff(before, after *Snapshot, m Mask) []string {
	count := map[string]int{}
	for _, l := range before.Lines(m) {
		count[l]--
	}
	for _, l := range after.Lines(m) {
		count[l]++
	}
	var out []string
	for l, n := range count {
		for ; n < 0; n++ {
			out = append(out, "- "+l)
		}
		for ; n > 0; n-- {
			out = append(out, "+ "+l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][2:] != out[j][2:] {
			return out[i][2:] < out[j][2:]
		}
		return out[i] < out[j]
	})
	return out
}

// linkAddrs are a link's addresses in the kernel's order, which `ip addr`
// shows and which decides e.g. the primary IPv4 address.
type linkAddrs struct {
	link     string
	prefixes []string
}

func (s *Snapshot) addrOrder() []linkAddrs {
	var out []linkAddrs
	at := map[string]int{}
	for _, a := range s.Addrs {
		i, ok := at[a.Link]
		if !ok {
			i = len(out)
			at[a.Link] = i
			out = append(out, linkAddrs{link: a.Link})
		}
		out[i].prefixes = append(out[i].prefixes, a.Prefix)
	}
	return out
}
