package bpf

import (
	"os"
	"testing"
)

func TestSockFilterPorts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	f, err := LoadSockFilter()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.FD() < 0 {
		t.Fatalf("program descriptor %d", f.FD())
	}
	for _, idx := range []int{3, 70000} {
		if f.Has(idx) {
			t.Errorf("ifindex %d in an empty filter", idx)
		}
		if err := f.Add(idx); err != nil {
			t.Fatal(err)
		}
		if err := f.Add(idx); err != nil {
			t.Errorf("adding ifindex %d again: %v", idx, err)
		}
		if !f.Has(idx) {
			t.Errorf("ifindex %d not in the filter after Add", idx)
		}
	}
	if err := f.Delete(3); err != nil || f.Has(3) || !f.Has(70000) {
		t.Errorf("Delete(3): %v; has 3 %v, has 70000 %v", err, f.Has(3), f.Has(70000))
	}
	if err := f.Delete(3); err != nil {
		t.Errorf("deleting an absent ifindex: %v", err)
	}
}
