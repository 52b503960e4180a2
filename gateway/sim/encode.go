package sim

import (
	"encoding/binary"
	"fmt"
	"math"

	"hazardgw/configs"
)

// Words returns how many 16-bit registers a point of type typ occupies.
func Words(typ string) int {
	switch typ {
	case "int32", "uint32", "float32":
		return 2
	case "int64", "uint64", "float64":
		return 4
	}
	return 1 // bool, int16, uint16
}

// Raw turns an engineering value into the raw number the device holds:
// raw = (value - offset) / scale, the inverse of the driver's
// value = raw x scale + offset. A zero scale is taken as 1.
func Raw(p *configs.Point, v float64) float64 {
	scale := 1.0
	if p.Scale != nil && *p.Scale != 0 {
		scale = *p.Scale
	}
	return (v - p.Offset) / scale
}

// Encode writes value v of point p into registers as the device would
// hold it: raw number in p.Type, words and bytes in p.Order. Integers are
// rounded and clamped to the type's range (a simulated value the type
// cannot hold reads as the nearest one it can). len(regs) must be
// Words(p.Type).
//
// Orders (bytes A B C D ... of the big-endian number):
//
//	ABCD  most significant word first, big-endian bytes (Modbus default)
//	CDAB  word order reversed, bytes big-endian in each word
//	BADC  most significant word first, bytes swapped in each word
//	DCBA  word order reversed and bytes swapped: little-endian
//
// For 64-bit types the same rule applies to four words (CDAB: GH EF CD AB).
func Encode(p *configs.Point, v float64, regs []uint16) error {
	n := Words(p.Type)
	if len(regs) != n {
		return fmt.Errorf("point %s: %d registers for %s, want %d", p.ID, len(regs), p.Type, n)
	}
	raw := Raw(p, v)
	var b [8]byte
	switch p.Type {
	case "bool":
		if v != 0 {
			binary.BigEndian.PutUint16(b[:], 1)
		}
	case "int16":
		binary.BigEndian.PutUint16(b[:], uint16(int16(clampInt(raw, math.MinInt16, math.MaxInt16))))
	case "uint16":
		binary.BigEndian.PutUint16(b[:], uint16(clampInt(raw, 0, math.MaxUint16)))
	case "int32":
		binary.BigEndian.PutUint32(b[:], uint32(int32(clampInt(raw, math.MinInt32, math.MaxInt32))))
	case "uint32":
		binary.BigEndian.PutUint32(b[:], uint32(clampInt(raw, 0, math.MaxUint32)))
	case "float32":
		binary.BigEndian.PutUint32(b[:], math.Float32bits(float32(raw)))
	case "int64":
		binary.BigEndian.PutUint64(b[:], uint64(clampInt(raw, math.MinInt64, math.MaxInt64)))
	case "uint64":
		r := math.Round(raw)
		var u uint64
		switch {
		case r <= 0 || math.IsNaN(r):
		case r >= math.MaxUint64:
			u = math.MaxUint64
		default:
			u = uint64(r)
		}
		binary.BigEndian.PutUint64(b[:], u)
	case "float64":
		binary.BigEndian.PutUint64(b[:], math.Float64bits(raw))
	default:
		return fmt.Errorf("point %s: unknown type %q", p.ID, p.Type)
	}
	wordSwap, byteSwap := false, false
	switch p.Order {
	case "", "ABCD":
	case "CDAB":
		wordSwap = true
	case "BADC":
		byteSwap = true
	case "DCBA":
		wordSwap, byteSwap = true, true
	default:
		return fmt.Errorf("point %s: unknown order %q", p.ID, p.Order)
	}
	for i := range n {
		w := b[2*i : 2*i+2]
		x := binary.BigEndian.Uint16(w)
		if byteSwap && n > 1 {
			x = x<<8 | x>>8
		}
		j := i
		if wordSwap {
			j = n - 1 - i
		}
		regs[j] = x
	}
	return nil
}

// clampInt rounds x and clamps it to [lo, hi] (NaN reads as 0).
func clampInt(x, lo, hi float64) int64 {
	x = math.Round(x)
	switch {
	case math.IsNaN(x):
		return 0
	case x <= lo:
		return int64(lo)
	case x >= hi:
		if hi >= math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(hi)
	}
	return int64(x)
}
