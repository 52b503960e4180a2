package drivers

import (
	"fmt"
	"testing"
)

// TestQueueOverflow: the overflow policy as data, for items weighing 1 and
// for batches weighing their length.
func TestQueueOverflow(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		pushes  [][]int // each a batch (one item of the batch queue)
		kept    string  // the batches left, oldest first
		dropped uint64
	}{
		{"fits", 10, [][]int{{1, 2}, {3}}, "[[1 2] [3]]", 0},
		{"exactly full", 3, [][]int{{1, 2}, {3}}, "[[1 2] [3]]", 0},
		{"oldest batch goes whole", 3, [][]int{{1, 2}, {3, 4}}, "[[3 4]]", 2},
		{"several oldest go", 4, [][]int{{1}, {2}, {3}, {4, 5, 6}}, "[[3] [4 5 6]]", 2},
		{"newest kept even above max", 2, [][]int{{1}, {2, 3, 4}}, "[[2 3 4]]", 1},
		{"empty batches weigh nothing", 1, [][]int{{}, {1}, {}}, "[[] [1] []]", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := NewQueue(c.max, func(b []int) int { return len(b) })
			var dropped int
			for _, b := range c.pushes {
				dropped += q.Push(b)
			}
			if q.Dropped() != c.dropped || uint64(dropped) != c.dropped {
				t.Errorf("Dropped() = %d, Push returned %d in all, want %d", q.Dropped(), dropped, c.dropped)
			}
			got := q.Take()
			if fmt.Sprint(got) != c.kept {
				t.Errorf("kept %v, want %s", got, c.kept)
			}
			if q.Len() != 0 || q.Take() != nil {
				t.Errorf("not empty after Take: Len %d", q.Len())
			}
		})
	}
}

// TestQueueRing: items of weight 1 behave as a ring of max items that
// overwrites the oldest, across many pushes and partial takes.
func TestQueueRing(t *testing.T) {
	q := NewQueue[int](4, nil)
	var dst []int
	next, want, taken := 0, 0, 0
	for round := range 50 {
		for range round % 7 {
			q.Push(next)
			next++
		}
		if q.Len() > 4 {
			t.Fatalf("round %d: Len %d above max", round, q.Len())
		}
		want = max(want, next-q.Len()) // the newest Len items remain
		dst = q.TakeN(dst[:0], 3)
		taken += len(dst)
		for _, x := range dst {
			if x != want {
				t.Fatalf("round %d: took %d, want %d", round, x, want)
			}
			want++
		}
	}
	if got := q.Dropped() + uint64(taken+q.Len()); got != uint64(next) {
		t.Fatalf("dropped %d + taken %d + queued %d != pushed %d", q.Dropped(), taken, q.Len(), next)
	}
}

// TestQueueWake: the wake-up slot holds one signal for any number of pushes.
func TestQueueWake(t *testing.T) {
	q := NewQueue[int](10, nil)
	select {
	case <-q.Wake():
		t.Fatal("woken before any push")
	default:
	}
	q.Push(1)
	q.Push(2)
	q.Signal()
	<-q.Wake()
	select {
	case <-q.Wake():
		t.Fatal("a second wake-up for one burst")
	default:
	}
	if got := q.Take(); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("took %v", got)
	}
}
