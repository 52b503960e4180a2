package consoletest

import "testing"

func TestFirstValue(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		want   float64
		wantOK bool
	}{
		{"sample", `{"type":"sample","point":"P1","value":12.5,"quality":"good"}`, 12.5, true},
		{"last field", `{"point":"P1","value":-3}`, -3, true},
		{"first of several", `{"samples":[{"value":1},{"value":2}]}`, 1, true},
		{"null value", `{"point":"P1","value":null}`, 0, false},
		{"no value", `{"type":"hello"}`, 0, false},
		{"cut frame", `{"value":12`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FirstValue([]byte(tt.frame))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("FirstValue(%s) = %v, %v; want %v, %v", tt.frame, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
