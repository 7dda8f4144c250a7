package metrics

import "github.com/prometheus/client_golang/prometheus"

// UMEMSource is a Source with AF_XDP ports: it reports the UMEM of each
// bridge that has one.
type UMEMSource interface {
	UMEMFrames(f func(bridge string, frames, free int))
}

var (
	umemFrames = desc("afxdp_umem_frames", "Frame buffers of the UMEM the bridge's AF_XDP ports share.", "bridge")
	umemInUse  = desc("afxdp_umem_frames_in_use", "Of afxdp_umem_frames, the frames out of the pool: on the sockets' rings or held by a port. Frames of a closed port go back to the pool.", "bridge")
)

// collectUMEM reports src's UMEMs, if it has any.
func collectUMEM(ch chan<- prometheus.Metric, src Source) {
	u, ok := src.(UMEMSource)
	if !ok {
		return
	}
	u.UMEMFrames(func(bridge string, frames, free int) {
		ch <- prometheus.MustNewConstMetric(umemFrames, prometheus.GaugeValue, float64(frames), bridge)
		ch <- prometheus.MustNewConstMetric(umemInUse, prometheus.GaugeValue, float64(frames-free), bridge)
	})
}
