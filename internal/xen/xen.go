// Package xen knows how Xen names dom0's interfaces: pethN is the physical
// NIC behind ethN, vifD.N is device N of domain D (vifD.N-emu its emulated
// twin for HVM guests), and device N joins the bridge of ethN.
package xen

import (
	"regexp"
	"strconv"
)

var (
	pethName = regexp.MustCompile(`^peth(\d+)$`)
	vifName  = regexp.MustCompile(`^vif(\d+)\.(\d+)(-emu)?$`)
)

// Vif is what a Xen vif name says about its guest.
type Vif struct {
	DomID int  // domain id (never reused by Xen)
	DevID int  // device index inside the guest
	Emu   bool // the -emu tap of an HVM guest
}

// ParseVif parses vifD.N and vifD.N-emu.
func ParseVif(name string) (Vif, bool) {
	m := vifName.FindStringSubmatch(name)
	if m == nil {
		return Vif{}, false
	}
	d, err1 := strconv.Atoi(m[1])
	n, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return Vif{}, false
	}
	return Vif{DomID: d, DevID: n, Emu: m[3] != ""}, true
}

// ParsePeth parses pethN and returns N, as written (the bridge of pethN is
// xenbrN).
func ParsePeth(name string) (n string, ok bool) {
	m := pethName.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}
