package evpn

import (
	"net"
	"net/netip"
	"testing"
)

type nopDataplane struct{}

func (nopDataplane) InstallMAC(uint32, net.HardwareAddr, netip.Addr) {}
func (nopDataplane) RemoveMAC(uint32, net.HardwareAddr)              {}
func (nopDataplane) AddFloodVTEP(uint32, netip.Addr)                 {}
func (nopDataplane) DelFloodVTEP(uint32, netip.Addr)                 {}

// TestLocalMACs: a speaker without neighbors advertises the MACs of its
// VNIs only, withdraws them, and SetLocalMACs makes the set exact.
func TestLocalMACs(t *testing.T) {
	sp, err := Start(t.Context(), Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1"), ListenPort: -1}, nopDataplane{})
	if err != nil {
		t.Fatal(err)
	}
	vtep := netip.MustParseAddr("192.0.2.1")
	if err := sp.AddVNI(100, vtep); err != nil {
		t.Fatal(err)
	}
	m1, m2, m3 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}, net.HardwareAddr{2, 0, 0, 0, 0, 3}
	sp.LocalMAC(100, m1)
	sp.LocalMAC(100, m2)
	sp.LocalMAC(200, m3) // not a local VNI
	sp.LocalMACGone(100, m2)
	local := func() (out []string) {
		for _, m := range sp.MACs() {
			if m.Origin == "local" {
				out = append(out, m.MAC)
			}
		}
		return out
	}
	if got := local(); len(got) != 1 || got[0] != m1.String() {
		t.Fatalf("local MACs %v, want [%s]", got, m1)
	}
	sp.SetLocalMACs(100, []net.HardwareAddr{m2, m3})
	if got := local(); len(got) != 2 || got[0] != m2.String() || got[1] != m3.String() {
		t.Fatalf("after SetLocalMACs: %v, want [%s %s]", got, m2, m3)
	}
	if st := sp.Stats(); st.Advertised != 5 || st.Withdrawn != 2 {
		t.Errorf("stats %+v, want 5 advertised (1 VNI, 4 MACs), 2 withdrawn", st)
	}
	if v := sp.VNIs(); len(v) != 1 || v[0].LocalMACs != 2 || v[0].RD != "192.0.2.1:100" || v[0].RT != "65000:100" {
		t.Errorf("VNIs %+v", v)
	}
}
