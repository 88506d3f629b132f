package gpu

import (
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	long := strings.Repeat("a", 10240)
	tests := []struct{ in, want string }{
		{"", `""`},
		{"infiniband", `"infiniband"`},
		{strings.Repeat("b", 64), `"` + strings.Repeat("b", 64) + `"`},
		{long, `"` + strings.Repeat("a", 64) + `"... (10240 bytes)`},
		// A cut never splits a character: 63 ASCII bytes, then a 3-byte one that would straddle 64.
		{strings.Repeat("c", 63) + "€€", `"` + strings.Repeat("c", 63) + `"... (69 bytes)`},
		{"quote\"and\nnewline", `"quote\"and\nnewline"`},
	}
	for _, tt := range tests {
		if got := Echo(tt.in); got != tt.want {
			t.Errorf("Echo(%.20q...) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
