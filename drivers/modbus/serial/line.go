package serial

// Line is how a serial line frames its bytes.
type Line struct {
	Baud     int    // bits per second; 0 leaves the speed as it is (a pty has none)
	DataBits int    // 7 or 8 (anything else: 8)
	Parity   string // "N", "E" or "O"
	StopBits int    // 1 or 2
}

// Raw is 8 data bits, no parity, 1 stop bit at the current speed: what a
// pseudo-terminal end is opened with.
var Raw = Line{DataBits: 8, Parity: "N", StopBits: 1}
