package afpacket

import "github.com/xswitch/xswitch/dataplane"

var _ dataplane.StatusReporter = (*Port)(nil)

// ReportStatus implements dataplane.StatusReporter.
func (p *Port) ReportStatus(s *dataplane.PortStatus) {
	st := p.Stats()
	s.AFPacket = &dataplane.AFPacketStatus{
		RingFreezes:     st.RxFreezes,
		SocketErrors:    st.SocketErrors,
		LastSocketError: st.LastSocketError,
	}
	s.TxErrors = txErrors(st)
}

// txErrors are the refused frames of st by reason.
func txErrors(st Stats) []dataplane.ReasonCount {
	return []dataplane.ReasonCount{
		{Reason: "too_big", Count: st.TxTooBig},
		{Reason: "busy", Count: st.TxBusy},
		{Reason: "down", Count: st.TxDown},
		{Reason: "invalid", Count: st.TxInvalid},
		{Reason: "other", Count: st.TxOther},
	}
}
