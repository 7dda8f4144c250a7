package afpacket

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    Config // when wantErr is empty
		wantErr string // a substring of the error: the field at fault
	}{
		{name: "zero takes the vif defaults", cfg: Config{}, want: VifConfig()},
		{name: "uplink defaults are valid", cfg: UplinkConfig(), want: UplinkConfig()},
		{
			name: "zero fields filled, others kept",
			cfg:  Config{BlockCount: 16, BatchSize: 32},
			want: Config{BlockSize: 128 << 10, BlockCount: 16, BlockTimeout: time.Millisecond, BatchSize: 32, SndBuf: 1 << 20},
		},
		{
			name: "timeout rounded up to milliseconds",
			cfg:  Config{BlockTimeout: 2500 * time.Microsecond},
			want: Config{BlockSize: 128 << 10, BlockCount: 8, BlockTimeout: 3 * time.Millisecond, BatchSize: 64, SndBuf: 1 << 20},
		},
		{name: "block too small for a super-frame", cfg: Config{BlockSize: 64 << 10}, wantErr: "BlockSize 65536: must be at least"},
		{name: "block not a multiple of pages", cfg: Config{BlockSize: 130000}, wantErr: "BlockSize 130000: must be a power-of-two"},
		{name: "block not a power of two of pages", cfg: Config{BlockSize: 192 << 10}, wantErr: "BlockSize 196608: must be a power-of-two"},
		{name: "one block", cfg: Config{BlockCount: 1}, wantErr: "BlockCount 1"},
		{name: "negative count", cfg: Config{BlockCount: -3}, wantErr: "BlockCount -3"},
		{name: "ring of 4 GiB", cfg: Config{BlockSize: 1 << 30, BlockCount: 4}, wantErr: "smaller than 4 GiB"},
		{name: "negative timeout", cfg: Config{BlockTimeout: -time.Microsecond}, wantErr: "BlockTimeout"},
		{name: "timeout beyond the kernel's u16", cfg: Config{BlockTimeout: time.Minute + 6*time.Second}, wantErr: "BlockTimeout 1m6s"},
		{name: "batch beyond sendmmsg", cfg: Config{BatchSize: 1025}, wantErr: "BatchSize 1025"},
		{name: "negative batch", cfg: Config{BatchSize: -1}, wantErr: "BatchSize -1"},
		{name: "send buffer below a super-frame", cfg: Config{SndBuf: 4096}, wantErr: "SndBuf 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("withDefaults(%+v) error = %v, want one containing %q", tc.cfg, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("withDefaults(%+v) = %+v, %v; want %+v, nil", tc.cfg, got, err, tc.want)
			}
		})
	}
}
