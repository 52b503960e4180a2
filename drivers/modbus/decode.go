package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Kind is a Modbus data table.
type Kind uint8

const (
	Holding  Kind = iota // 4x, FC03 / FC06 / FC16
	Input                // 3x, FC04
	Coil                 // 0x, FC01 / FC05
	Discrete             // 1x, FC02
)

var kindNames = [...]string{"holding", "input", "coil", "discrete"}

func (k Kind) String() string { return kindNames[k] }

// bits reports whether the table holds single bits (coils, discrete inputs).
func (k Kind) bits() bool { return k == Coil || k == Discrete }

// maxQty is the most items one read may ask for (DOMAIN §7).
func (k Kind) maxQty() int {
	if k.bits() {
		return 2000
	}
	return 125
}

func parseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// Type is a point's data type on the wire.
type Type uint8

const (
	Bool Type = iota
	Int16
	Uint16
	Int32
	Uint32
	Int64
	Uint64
	Float32
	Float64
)

var typeNames = [...]string{"bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}

func (t Type) String() string { return typeNames[t] }

// words is the number of 16-bit registers the type occupies.
func (t Type) words() int {
	switch t {
	case Int32, Uint32, Float32:
		return 2
	case Int64, Uint64, Float64:
		return 4
	}
	return 1
}

func parseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n == s {
			return Type(i), true
		}
	}
	return 0, false
}

// Order is the byte and word order of a multi-register value, named by where
// the bytes of the big-endian value A B C D (A most significant) arrive.
//
//	ABCD  big-endian words, big-endian bytes (Modbus default)
//	CDAB  low word first, bytes in a word big-endian ("word swap")
//	BADC  high word first, bytes in a word swapped ("byte swap")
//	DCBA  little-endian throughout
//
// For 64-bit types the same rule extends to four words (CDAB reverses all
// four words). For 16-bit types BADC and DCBA swap the two bytes.
type Order uint8

const (
	ABCD Order = iota
	CDAB
	BADC
	DCBA
)

var orderNames = [...]string{"ABCD", "CDAB", "BADC", "DCBA"}

func (o Order) String() string { return orderNames[o] }

func (o Order) byteSwap() bool { return o == BADC || o == DCBA }
func (o Order) wordSwap() bool { return o == CDAB || o == DCBA }

func parseOrder(s string) (Order, bool) {
	if s == "" {
		return ABCD, true
	}
	for i, n := range orderNames {
		if n == strings.ToUpper(s) {
			return Order(i), true
		}
	}
	return 0, false
}

// point is one point of a plan, packed: where its value is and how it is
// encoded, 12 bytes and no pointers. Its id lives beside it (device.ids)
// and its scale, offset and range in the plan's conversion table
// (shape.convs[conv]), shared by the points that have the same.
type point struct {
	addr  uint16 // first register or bit
	kind  Kind
	typ   Type
	order Order
	bit   int8   // -1: whole value
	conv  uint32 // index into the plan's conversions
}

// conv is the engineering conversion and range of points: value = raw *
// scale + offset, quality from lo..hi.
type conv struct {
	scale  float64
	offset float64
	lo, hi float64 // range; lo == hi: none
}

// spec is a configs.Point compiled, unpacked: its id, its plan entry (conv
// unset) and its conversion. Plans keep the three apart (see shape).
type spec struct {
	id drivers.PointID
	point
	conv
}

// span is the number of registers (or bits) the point reads.
func (p *point) span() int {
	if p.kind.bits() {
		return 1
	}
	return p.typ.words()
}

// compilePoint checks one point of a modbus device and compiles it. The
// error names the point and the key at fault.
func compilePoint(cp *configs.Point) (spec, error) {
	p := spec{id: drivers.PointID(cp.ID), point: point{bit: -1}, conv: conv{scale: 1, offset: cp.Offset}}
	var ok bool
	if p.kind, ok = parseKind(cp.Register); !ok {
		return p, fmt.Errorf("point %s: register %q: want holding, input, coil or discrete", cp.ID, cp.Register)
	}
	if cp.Address == nil {
		return p, fmt.Errorf("point %s: address missing", cp.ID)
	}
	addr := *cp.Address
	if p.typ, ok = parseType(cp.Type); !ok {
		return p, fmt.Errorf("point %s: type %q unknown", cp.ID, cp.Type)
	}
	if p.kind.bits() && p.typ != Bool {
		return p, fmt.Errorf("point %s: type %s on a %s: bit tables hold only bool", cp.ID, p.typ, p.kind)
	}
	if p.order, ok = parseOrder(cp.Order); !ok {
		return p, fmt.Errorf("point %s: order %q: want ABCD, CDAB, BADC or DCBA", cp.ID, cp.Order)
	}
	if cp.Bit != nil {
		if p.typ != Int16 && p.typ != Uint16 || p.kind.bits() {
			return p, fmt.Errorf("point %s: bit is only for int16/uint16 registers", cp.ID)
		}
		if *cp.Bit < 0 || *cp.Bit > 15 {
			return p, fmt.Errorf("point %s: bit %d: want 0..15", cp.ID, *cp.Bit)
		}
		p.bit = int8(*cp.Bit)
	}
	if addr < 0 || addr+p.span() > 65536 {
		return p, fmt.Errorf("point %s: address %d: a %s %s needs %d register(s) from it and overruns the register space 0..65535",
			cp.ID, addr, p.kind, p.typ, p.span())
	}
	p.addr = uint16(addr)
	if cp.Scale != nil {
		p.scale = *cp.Scale
	}
	if len(cp.Range) == 2 {
		p.lo, p.hi = cp.Range[0], cp.Range[1]
	}
	return p, nil
}

// raw decodes the point's value from the registers of a read starting at
// base: regs holds big-endian register bytes as they arrived. The result is
// before scale and offset.
func (p *point) raw(regs []byte, base int) float64 {
	off := 2 * (int(p.addr) - base)
	n := p.typ.words()
	var buf [8]byte
	b := buf[:2*n]
	src := regs[off : off+2*n]
	// Normalise to big-endian ABCD: swap bytes in each word, then reverse
	// the words.
	for w := 0; w < n; w++ {
		from := w
		if p.order.wordSwap() && n > 1 {
			from = n - 1 - w
		}
		hi, lo := src[2*from], src[2*from+1]
		if p.order.byteSwap() {
			hi, lo = lo, hi
		}
		b[2*w], b[2*w+1] = hi, lo
	}
	switch p.typ {
	case Bool:
		if binary.BigEndian.Uint16(b) != 0 {
			return 1
		}
		return 0
	case Int16:
		v := binary.BigEndian.Uint16(b)
		if p.bit >= 0 {
			return float64(v >> p.bit & 1)
		}
		return float64(int16(v))
	case Uint16:
		v := binary.BigEndian.Uint16(b)
		if p.bit >= 0 {
			return float64(v >> p.bit & 1)
		}
		return float64(v)
	case Int32:
		return float64(int32(binary.BigEndian.Uint32(b)))
	case Uint32:
		return float64(binary.BigEndian.Uint32(b))
	case Int64:
		return float64(int64(binary.BigEndian.Uint64(b)))
	case Uint64:
		return float64(binary.BigEndian.Uint64(b))
	case Float32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case Float64:
		return math.Float64frombits(binary.BigEndian.Uint64(b))
	}
	return math.NaN()
}

// boolean reports whether the point's value is a 0/1 that takes no scale.
func (p *point) boolean() bool { return p.typ == Bool || p.bit >= 0 }

// sample builds the sample of point id from its raw value; boolean: the
// value is a 0/1 that takes no scale (point.boolean).
func (c *conv) sample(id drivers.PointID, boolean bool, raw float64, now time.Time) drivers.Sample {
	v := raw
	if !boolean {
		v = raw*c.scale + c.offset
	}
	s := drivers.Sample{Point: id, Value: v, Time: now}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s.Quality, s.Cause = drivers.Bad, drivers.CauseRange
		return s
	}
	s.Quality, s.Cause = drivers.Classify(v, c.lo, c.hi)
	return s
}

// sample builds the point's sample from its raw value.
func (p *spec) sample(raw float64, now time.Time) drivers.Sample {
	return p.conv.sample(p.id, p.boolean(), raw, now)
}

// encode turns an engineering value into the registers to write (inverse of
// scale/offset, then the point's type and order). Bit points are written by
// the caller with a read-modify-write.
func (p *spec) encode(v float64) ([]byte, error) {
	if !p.boolean() && p.scale != 0 {
		v = (v - p.offset) / p.scale
	}
	n := p.typ.words()
	var buf [8]byte
	b := buf[:2*n]
	rng := func(lo, hi float64) error {
		if v < lo || v > hi || math.IsNaN(v) {
			return fmt.Errorf("value %g does not fit %s", v, p.typ)
		}
		return nil
	}
	switch p.typ {
	case Bool:
		if v != 0 {
			v = 1
		}
		binary.BigEndian.PutUint16(b, uint16(v))
	case Int16:
		if err := rng(math.MinInt16, math.MaxInt16); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(b, uint16(int16(math.Round(v))))
	case Uint16:
		if err := rng(0, math.MaxUint16); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(b, uint16(math.Round(v)))
	case Int32:
		if err := rng(math.MinInt32, math.MaxInt32); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint32(b, uint32(int32(math.Round(v))))
	case Uint32:
		if err := rng(0, math.MaxUint32); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint32(b, uint32(math.Round(v)))
	case Int64:
		if err := rng(math.MinInt64, math.MaxInt64); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint64(b, uint64(int64(math.Round(v))))
	case Uint64:
		if err := rng(0, math.MaxUint64); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint64(b, uint64(math.Round(v)))
	case Float32:
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(v)))
	case Float64:
		binary.BigEndian.PutUint64(b, math.Float64bits(v))
	}
	out := make([]byte, 2*n)
	for w := 0; w < n; w++ {
		to := w
		if p.order.wordSwap() && n > 1 {
			to = n - 1 - w
		}
		hi, lo := b[2*w], b[2*w+1]
		if p.order.byteSwap() {
			hi, lo = lo, hi
		}
		out[2*to], out[2*to+1] = hi, lo
	}
	return out, nil
}

// Encode returns what a slave must hold so that the driver reads value for
// the configured point: registers (big-endian words as on the wire) for a
// register point, a single 0 or 1 for a coil or discrete input. The inverse
// of scale/offset is applied; a bit point yields the register with only
// that bit set or clear (merge it into the slave's register yourself). For
// simulators and tests.
func Encode(cp configs.Point, value float64) ([]uint16, error) {
	p, err := compilePoint(&cp)
	if err != nil {
		return nil, err
	}
	if p.kind.bits() || p.bit >= 0 {
		v := uint16(0)
		if value != 0 {
			v = 1
			if p.bit >= 0 {
				v = 1 << p.bit
			}
		}
		return []uint16{v}, nil
	}
	b, err := p.encode(value)
	if err != nil {
		return nil, fmt.Errorf("point %s: %w", cp.ID, err)
	}
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out, nil
}
