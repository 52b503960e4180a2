package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// request is one read of a device: a run of registers or bits and the
// points decoded from it, shape.pts[from:to]. 16 bytes, no pointers.
type request struct {
	kind     Kind
	addr     uint16 // first register or bit
	qty      uint16
	from, to uint32
}

func (r *request) String() string { return fmt.Sprintf("read %s %d+%d", r.kind, r.addr, r.qty) }

// plan groups a device's points into the fewest reads: points of one table
// are sorted by address and a read is extended over the next point when the
// hole between them is at most gap registers (16*gap bits for coils and
// discrete inputs) and the read stays within the protocol's limit (125
// registers, 2000 bits). Overlapping points share a read. It returns the
// points in plan order (table, then address; equal ones in their given
// order), as indexes into pts, and the reads, ordered by table, then
// address, each naming its points as a range of that order.
func plan(pts []point, gap int) ([]int32, []request) {
	order := make([]int32, len(pts))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(i, j int32) int {
		a, b := &pts[i], &pts[j]
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return int(a.addr) - int(b.addr)
	})
	var out []request
	for n, i := range order {
		p := &pts[i]
		addr, end := int(p.addr), int(p.addr)+p.span()
		if k := len(out) - 1; k >= 0 && out[k].kind == p.kind {
			cur := &out[k]
			g := gap
			if p.kind.bits() {
				g *= 16
			}
			curEnd := int(cur.addr) + int(cur.qty)
			newEnd := max(curEnd, end)
			if addr-curEnd <= g && newEnd-int(cur.addr) <= p.kind.maxQty() {
				cur.qty = uint16(newEnd - int(cur.addr))
				cur.to++
				continue
			}
		}
		out = append(out, request{kind: p.kind, addr: p.addr, qty: uint16(p.span()), from: uint32(n), to: uint32(n + 1)})
	}
	return order, slices.Clip(out)
}

// shape is a device's plan without its point ids: the points in plan order,
// their conversions (each distinct scale, offset and range once) and the
// reads. It is immutable once built, and devices whose points compile the
// same (ids aside) share one: the bench's 1000 devices of 100 registers
// hold one shape and 1000 id slices.
type shape struct {
	pts   []point // plan order
	convs []conv
	reqs  []request
}

// shaper builds the shapes of one build (New or Reload), sharing equal
// ones. Not safe for concurrent use.
type shaper struct {
	// byKey holds each shape built so far by its key (see shape); order
	// is the plan order of its points as indexes into the device's
	// config order, the same for every device of that key.
	byKey map[string]shaped
	// Scratch reused from device to device.
	specs   []spec
	pts     []point
	convs   []conv
	convIdx map[[4]uint64]uint32 // conversion (as bits) -> index in convs
	key     []byte
}

type shaped struct {
	sh    *shape
	order []int32
}

// shape returns the shared shape of a device's compiled points (in config
// order, gap as configured) and the plan order of its points, as indexes
// into specs. The key is every point's plan entry and conversion in config
// order, and the gap: what plan and decoding depend on.
func (s *shaper) shape(specs []spec, gap int) (*shape, []int32) {
	if s.byKey == nil {
		s.byKey = map[string]shaped{}
	}
	s.pts, s.convs = s.pts[:0], s.convs[:0]
	if s.convIdx == nil {
		s.convIdx = map[[4]uint64]uint32{}
	}
	clear(s.convIdx)
	for i := range specs {
		c := &specs[i].conv
		bits := [4]uint64{math.Float64bits(c.scale), math.Float64bits(c.offset), math.Float64bits(c.lo), math.Float64bits(c.hi)}
		k, ok := s.convIdx[bits]
		if !ok {
			k = uint32(len(s.convs))
			s.convIdx[bits] = k
			s.convs = append(s.convs, *c)
		}
		p := specs[i].point
		p.conv = k
		s.pts = append(s.pts, p)
	}
	s.key = binary.AppendUvarint(s.key[:0], uint64(gap))
	for _, p := range s.pts {
		s.key = append(s.key, byte(p.addr>>8), byte(p.addr), byte(p.kind), byte(p.typ), byte(p.order), byte(p.bit))
		s.key = binary.BigEndian.AppendUint32(s.key, p.conv)
	}
	for _, c := range s.convs {
		for _, f := range [...]float64{c.scale, c.offset, c.lo, c.hi} {
			s.key = binary.BigEndian.AppendUint64(s.key, math.Float64bits(f))
		}
	}
	if x, ok := s.byKey[string(s.key)]; ok {
		return x.sh, x.order
	}
	order, reqs := plan(s.pts, gap)
	sh := &shape{pts: make([]point, len(order)), convs: slices.Clone(s.convs), reqs: reqs}
	for n, i := range order {
		sh.pts[n] = s.pts[i]
	}
	s.byKey[string(s.key)] = shaped{sh: sh, order: order}
	return sh, order
}
