package afxdp

import "github.com/xswitch/xswitch/dataplane"

var _ dataplane.StatusReporter = (*Port)(nil)

// ReportStatus implements dataplane.StatusReporter.
func (p *Port) ReportStatus(s *dataplane.PortStatus) {
	st := p.Stats()
	s.AFXDP = &dataplane.AFXDPStatus{
		ZeroCopy:           p.ZeroCopy(),
		Queues:             p.Queues(),
		SharesUMEM:         p.SharesUMEM(),
		TxUncopied:         st.TxZeroCopy,
		Segmented:          st.TxSegmented,
		Segments:           st.TxSegments,
		ChecksumsCompleted: st.RxChecksumsCompleted,
	}
	// device_busy, down and other are failed wake-ups of the kernel, whose
	// frames stay queued; the others are frames refused.
	s.TxErrors = []dataplane.ReasonCount{
		{Reason: "too_big", Count: st.TxTooBig},
		{Reason: "no_buffer", Count: st.TxNoBuffer},
		{Reason: "invalid", Count: st.TxInvalid},
		{Reason: "device_busy", Count: st.TxDeviceBusy},
		{Reason: "down", Count: st.TxDown},
		{Reason: "other", Count: st.TxOther},
	}
}
