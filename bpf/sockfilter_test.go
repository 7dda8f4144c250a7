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
	if f.FD() < 0 || f.FanoutFD() < 0 {
		t.Fatalf("program descriptors %d, %d", f.FD(), f.FanoutFD())
	}
	for _, idx := range []int{3, 70000} {
		if _, ok := f.Tap(idx); ok {
			t.Errorf("ifindex %d in an empty filter", idx)
		}
		if err := f.Add(idx, 1); err != nil {
			t.Fatal(err)
		}
		if err := f.Add(idx, 2); err != nil {
			t.Errorf("adding ifindex %d again: %v", idx, err)
		}
		if tap, ok := f.Tap(idx); !ok || tap != 2 {
			t.Errorf("ifindex %d to tap %d (in the filter %v) after Add, want 2", idx, tap, ok)
		}
	}
	if err := f.Add(5, -1); err == nil {
		t.Error("Add to tap -1 accepted")
	}
	err = f.Delete(3)
	_, has3 := f.Tap(3)
	_, has70000 := f.Tap(70000)
	if err != nil || has3 || !has70000 {
		t.Errorf("Delete(3): %v; has 3 %v, has 70000 %v", err, has3, has70000)
	}
	if err := f.Delete(3); err != nil {
		t.Errorf("deleting an absent ifindex: %v", err)
	}
}
