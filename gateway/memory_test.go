package main

import "testing"

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, stacks uint64
		want         int
	}{
		{16 * mib, 0, 100},           // small gateway: the default, never above it
		{100 * mib, 28 * mib, 19},    // 25 MiB of headroom over 128 MiB of roots
		{64 * mib, 0, 25},            // at least 16 MiB: 16 over 64
		{48 * mib, 0, 33},            // 16 over 48
		{400 * mib, 0, 25},           // a quarter of a large live heap
		{4000 * mib, 4000 * mib, 12}, // stacks count as roots
	} {
		if got := gcPercent(c.live, c.stacks); got != c.want {
			t.Errorf("gcPercent(%d MiB, %d MiB) = %d, want %d", c.live/mib, c.stacks/mib, got, c.want)
		}
		goal := c.live + (c.live+c.stacks)*uint64(gcPercent(c.live, c.stacks))/100
		if c.want < 100 && (goal-c.live < headroom(c.live)*9/10 || goal-c.live > headroom(c.live)*11/10) {
			t.Errorf("live %d MiB: heap goal %d MiB is not live + headroom %d MiB", c.live/mib, goal/mib, headroom(c.live)/mib)
		}
	}
}
