package modbus

import (
	"fmt"
	"sort"
)

// request is one read of a device: a run of registers or bits and the
// points decoded from it.
type request struct {
	kind   Kind
	addr   int // first register or bit
	qty    int
	points []*point
}

func (r *request) String() string { return fmt.Sprintf("read %s %d+%d", r.kind, r.addr, r.qty) }

// plan groups a device's points into the fewest reads: points of one table
// are sorted by address and a read is extended over the next point when the
// hole between them is at most gap registers (16*gap bits for coils and
// discrete inputs) and the read stays within the protocol's limit (125
// registers, 2000 bits). Overlapping points share a read. The result is
// ordered by table, then address.
func plan(points []*point, gap int) []*request {
	ps := append([]*point(nil), points...)
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].kind != ps[j].kind {
			return ps[i].kind < ps[j].kind
		}
		return ps[i].addr < ps[j].addr
	})
	var out []*request
	var cur *request
	for _, p := range ps {
		end := p.addr + p.span()
		if cur != nil && cur.kind == p.kind {
			g := gap
			if p.kind.bits() {
				g *= 16
			}
			curEnd := cur.addr + cur.qty
			newEnd := max(curEnd, end)
			if p.addr-curEnd <= g && newEnd-cur.addr <= p.kind.maxQty() {
				cur.qty = newEnd - cur.addr
				cur.points = append(cur.points, p)
				continue
			}
		}
		cur = &request{kind: p.kind, addr: p.addr, qty: p.span(), points: []*point{p}}
		out = append(out, cur)
	}
	return out
}
