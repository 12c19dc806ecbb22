// Package mailbox is an unbounded FIFO with a blocking receive: the master and
// agent push events into it while holding their locks, and one HTTP stream
// writer drains it, so a slow reader never blocks the state machine.
package mailbox

import (
	"context"
	"sync"
	"time"
)

// Box is an unbounded queue of T. The zero value is not usable; use New.
type Box[T any] struct {
	mu     sync.Mutex
	items  []T
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

// New returns an empty, open Box.
func New[T any]() *Box[T] {
	return &Box[T]{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Push appends v; it returns false if the box is closed.
func (b *Box[T]) Push(v T) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.items = append(b.items, v)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return true
}

// Close closes the box; Pop returns false once it is closed, even if items
// remain (a closed stream has no reader left to deliver them to).
func (b *Box[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

// Done is closed when the box is closed.
func (b *Box[T]) Done() <-chan struct{} { return b.done }

// Pop waits for the next item. It returns false when ctx ends or the box is
// closed.
func (b *Box[T]) Pop(ctx context.Context) (T, bool) {
	var zero T
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return zero, false
		}
		if len(b.items) > 0 {
			v := b.items[0]
			b.items[0] = zero
			b.items = b.items[1:]
			b.mu.Unlock()
			return v, true
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return zero, false
		case <-b.done:
			return zero, false
		case <-b.wake:
		}
	}
}

// Wake returns a channel that is signalled when items may be waiting; use it
// with TryPop to multiplex a box with timers.
func (b *Box[T]) Wake() <-chan struct{} { return b.wake }

// TryPop returns the next item without waiting.
func (b *Box[T]) TryPop() (T, bool) {
	var zero T
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.items) == 0 {
		return zero, false
	}
	v := b.items[0]
	b.items[0] = zero
	b.items = b.items[1:]
	return v, true
}

// TryPopClosed returns the next item without waiting, even after Close: a
// writer uses it to flush a final message queued just before the close.
func (b *Box[T]) TryPopClosed() (T, bool) {
	var zero T
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.items) == 0 {
		return zero, false
	}
	v := b.items[0]
	b.items[0] = zero
	b.items = b.items[1:]
	return v, true
}

// Pump is the writer loop of a stream: it sends b's items in order until
// done is closed, a send fails or b is closed, and calls heartbeat on every
// tick. After Close it still sends what was queued before the close when
// flush is set (a final ERROR or SHUTDOWN), ignoring errors. It returns the
// error of the failed send, if any.
func (b *Box[T]) Pump(done <-chan struct{}, tick <-chan time.Time, flush bool, send func(T) error, heartbeat func() error) error {
	for {
		for {
			v, ok := b.TryPop()
			if !ok {
				break
			}
			if err := send(v); err != nil {
				return err
			}
		}
		select {
		case <-done:
			return nil
		case <-b.done:
			for flush {
				v, ok := b.TryPopClosed()
				if !ok {
					break
				}
				_ = send(v)
			}
			return nil
		case <-b.wake:
		case <-tick:
			if err := heartbeat(); err != nil {
				return err
			}
		}
	}
}
