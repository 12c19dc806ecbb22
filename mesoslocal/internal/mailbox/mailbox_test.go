package mailbox

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestPump(t *testing.T) {
	// Items queued before Close are flushed when asked, not otherwise.
	for _, flush := range []bool{true, false} {
		b := New[int]()
		b.Push(1)
		b.Push(2)
		b.Close()
		var got []int
		if err := b.Pump(nil, nil, flush, func(v int) error { got = append(got, v); return nil }, nil); err != nil {
			t.Fatal(err)
		}
		if want := map[bool][]int{true: {1, 2}, false: nil}[flush]; !slices.Equal(got, want) {
			t.Errorf("flush=%v: sent %v, want %v", flush, got, want)
		}
	}

	// Items pushed while pumping are sent in order, a tick sends a
	// heartbeat, and a failed send ends the pump with its error.
	b := New[int]()
	tick := make(chan time.Time)
	sent := make(chan int, 10)
	boom := errors.New("boom")
	done := make(chan error, 1)
	go func() {
		done <- b.Pump(nil, tick, false, func(v int) error {
			if v < 0 {
				return boom
			}
			sent <- v
			return nil
		}, func() error { sent <- 0; return nil })
	}()
	b.Push(1)
	b.Push(2)
	for _, want := range []int{1, 2} {
		if v := <-sent; v != want {
			t.Fatalf("sent %d, want %d", v, want)
		}
	}
	tick <- time.Now()
	if v := <-sent; v != 0 {
		t.Fatalf("sent %d, want the heartbeat", v)
	}
	b.Push(-1)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("pump: %v, want %v", err, boom)
	}

	// Closing done stops the pump.
	stop := make(chan struct{})
	close(stop)
	if err := New[int]().Pump(stop, nil, true, nil, nil); err != nil {
		t.Fatal(err)
	}
}
