package bpf

import (
	"regexp"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/xswitch/xswitch/policy"
)

// TestPuntReasonsCoverEnum checks that every value of enum punt_reason, as
// the compiled object declares it, has a name of its own in PuntReasons.
func TestPuntReasonsCoverEnum(t *testing.T) {
	spec, err := loadXswitch()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("punt_reason", &enum); err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]string{}
	for _, v := range enum.Values {
		if v.Name == "PUNT_MAX" {
			if v.Value != uint64(len(PuntReasons)) {
				t.Errorf("PUNT_MAX is %d, PuntReasons has %d names", v.Value, len(PuntReasons))
			}
			continue
		}
		if v.Value >= uint64(len(PuntReasons)) {
			t.Errorf("%s (%d) has no name in PuntReasons", v.Name, v.Value)
			continue
		}
		r := PuntReasons[v.Value]
		if !name.MatchString(r) {
			t.Errorf("%s (%d) is named %q, want a snake_case name", v.Name, v.Value, r)
		}
		if other, ok := seen[r]; ok {
			t.Errorf("%s and %s are both named %q", other, v.Name, r)
		}
		seen[r] = v.Name
	}
	if len(seen) != len(PuntReasons) {
		t.Errorf("enum punt_reason has %d reasons, PuntReasons %d", len(seen), len(PuntReasons))
	}
}

// TestDropReasonsAreTheDataplanes checks that DropReasons names every value
// of enum drop_reason with the name of the dataplane's drop reason, and
// that the VLAN modes of maps.h are numbered as the policy package's.
func TestDropReasonsAreTheDataplanes(t *testing.T) {
	if int(xswitchDropReasonDROP_MAX) != len(DropReasons) {
		t.Errorf("DROP_MAX is %d, DropReasons has %d names", xswitchDropReasonDROP_MAX, len(DropReasons))
	}
	for want, r := range map[string]xswitchDropReason{
		"spoofed":  xswitchDropReasonDROP_SPOOFED,
		"vlan":     xswitchDropReasonDROP_VLAN,
		"isolated": xswitchDropReasonDROP_ISOLATED,
	} {
		if DropReasons[r] != want {
			t.Errorf("drop reason %d is %q, the dataplane's is %q", r, DropReasons[r], want)
		}
	}
	for m, want := range map[policy.VLANMode]xswitchVlanMode{
		policy.Transparent: xswitchVlanModeVLAN_TRANSPARENT,
		policy.Access:      xswitchVlanModeVLAN_ACCESS,
		policy.Trunk:       xswitchVlanModeVLAN_TRUNK,
	} {
		if uint32(m) != uint32(want) {
			t.Errorf("VLAN mode %s is %d in the policy package, %d in maps.h", m, m, want)
		}
	}
}
