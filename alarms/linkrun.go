package alarms

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// Writer writes value to a coil ("coil", 0 or 1) or holding register of a
// modbus device; modbus.Driver.WriteRegister is one. It returns when the
// device answered (nil: accepted), refused (exception) or timed out.
type Writer func(ctx context.Context, device, register string, addr int, value uint16) error

// Doer applies a command to the alarm engine (Engine.Do): the runner
// raises and clears ID:linkage with OpRaise/OpClear.
type Doer func(ctx context.Context, c Command) (Event, error)

// LinkRecord is one journaled state change of a linkage
// (store.dir/linkages.jsonl): who and why, and whether it holds its value.
type LinkRecord struct {
	LinkView
	Fired bool `json:"fired"`
}

// Linkages runs every [[linkage]] of a config (SPEC §11). It is an Output
// of the engine (alarm events fire linkages; feedback samples confirm
// them), issues the writes through Writer, raises ID:linkage through Doer,
// and journals every state change (fsync'd) before anyone sees it.
//
// Concurrency: Run's goroutine owns the Links. Event and Samples append to
// an inbox under a mutex and never block; Views and Command may be called
// from any goroutine. Writes run in their own goroutines (one at a time
// per linkage), so a slow device never delays another linkage.
type Linkages struct {
	links   map[string]*Link
	order   []string
	write   Writer
	do      Doer
	log     *slog.Logger
	now     func() time.Time
	file    *os.File
	timeout time.Duration

	mu      sync.Mutex
	inbox   []any
	views   map[string]LinkView
	watch   []func(LinkView)
	wake    chan struct{}
	results chan result
	cmds    chan linkCmd
}

type result struct {
	id  string
	w   *Write
	err error
}

type linkCmd struct {
	id, op, by, comment string
	reply               chan linkReply
}

type linkReply struct {
	v   LinkView
	err error
}

// LinkOptions are the runner's injected dependencies.
type LinkOptions struct {
	Log *slog.Logger
	Now func() time.Time // default time.Now
	// WriteTimeout bounds one write including its wait on the bus
	// (default 1s: SPEC §11 wants the write issued within 1 s).
	WriteTimeout time.Duration
}

// NewLinkages builds the runner and restores the journaled states from
// dir/linkages.jsonl. It does no other I/O.
func NewLinkages(cfg *configs.Config, dir string, w Writer, do Doer, opts LinkOptions) (*Linkages, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = time.Second
	}
	l := &Linkages{links: map[string]*Link{}, write: w, do: do, log: opts.Log, now: opts.Now, timeout: opts.WriteTimeout,
		views: map[string]LinkView{}, wake: make(chan struct{}, 1), results: make(chan result, 16), cmds: make(chan linkCmd)}
	now := opts.Now()
	for _, c := range cfg.Linkages {
		k := NewLink(c, now)
		l.links[c.ID] = k
		l.order = append(l.order, c.ID)
		l.views[c.ID] = k.View()
	}
	if len(cfg.Linkages) == 0 {
		return l, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("linkages: %w", err)
	}
	path := filepath.Join(dir, "linkages.jsonl")
	last := map[string]LinkRecord{}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r LinkRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				last[r.ID] = r // a damaged line loses that record only
			}
		}
		f.Close()
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("linkages: %w", err)
	}
	l.file = f
	for id, r := range last {
		if k := l.links[id]; k != nil {
			if w := k.Restore(r.LinkView, r.Fired, now); w != nil {
				l.inbox = append(l.inbox, restoreWrite{id, w})
			}
			l.views[id] = k.View()
		}
	}
	return l, nil
}

type restoreWrite struct {
	id string
	w  *Write
}

// Event receives an alarm event (Output). Never blocks.
func (l *Linkages) Event(ev Event) { l.push(ev) }

// Samples receives samples (Output); only feedback points are kept.
func (l *Linkages) Samples(batch []drivers.Sample) {
	for _, s := range batch {
		for _, k := range l.links {
			if k.cfg.Feedback == string(s.Point) {
				l.push(s)
			}
		}
	}
}

func (l *Linkages) push(x any) {
	l.mu.Lock()
	l.inbox = append(l.inbox, x)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Views returns every linkage's state, in config order.
func (l *Linkages) Views() []LinkView {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LinkView, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, l.views[id])
	}
	return out
}

// Watch registers f to be called (from Run's goroutine, must not block)
// at every state change; before Run.
func (l *Linkages) Watch(f func(LinkView)) { l.watch = append(l.watch, f) }

// Command is a commander's "run" or "release" (roles are the console's
// business). Errors wrap ErrUnknown (404), ErrConflict (409) or
// ErrInvalid (400).
func (l *Linkages) Command(ctx context.Context, id, op, by, comment string) (LinkView, error) {
	if _, ok := l.links[id]; !ok {
		return LinkView{}, fmt.Errorf("linkage %q: %w", id, ErrUnknown)
	}
	if op != "run" && op != "release" {
		return LinkView{}, fmt.Errorf("linkage %s: unknown operation %q: %w", id, op, ErrInvalid)
	}
	c := linkCmd{id: id, op: op, by: by, comment: comment, reply: make(chan linkReply, 1)}
	select {
	case l.cmds <- c:
	case <-ctx.Done():
		return LinkView{}, ctx.Err()
	}
	select {
	case r := <-c.reply:
		return r.v, r.err
	case <-ctx.Done():
		return LinkView{}, ctx.Err()
	}
}

// Run owns the linkages until ctx ends; writes under way are abandoned
// (their context ends) and the journal file is closed.
func (l *Linkages) Run(ctx context.Context) error {
	defer func() {
		if l.file != nil {
			l.file.Close()
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	l.mu.Lock()
	pending := len(l.inbox) > 0
	l.mu.Unlock()
	if pending {
		l.push(nil)
	}
	for {
		l.rearm(timer)
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
			l.mu.Lock()
			in := l.inbox
			l.inbox = nil
			l.mu.Unlock()
			now := l.now()
			for _, x := range in {
				switch x := x.(type) {
				case Event:
					for _, id := range l.order {
						l.start(ctx, id, l.links[id].Alarm(x, now))
					}
				case drivers.Sample:
					for _, id := range l.order {
						l.links[id].Sample(x, now)
					}
				case restoreWrite:
					l.start(ctx, x.id, x.w)
				}
			}
		case r := <-l.results:
			l.links[r.id].Wrote(r.w, r.err, l.now())
			if r.err != nil {
				l.log.Warn("linkage write failed", "linkage", r.id, "err", r.err)
			}
		case c := <-l.cmds:
			k := l.links[c.id]
			var w *Write
			var err error
			if c.op == "run" {
				w, err = k.Run(c.by, c.comment, l.now())
			} else {
				w, err = k.Release(c.by, c.comment, l.now())
			}
			l.start(ctx, c.id, w)
			l.publish(ctx)
			c.reply <- linkReply{k.View(), err}
			continue
		case <-timer.C:
			now := l.now()
			for _, id := range l.order {
				l.start(ctx, id, l.links[id].Tick(now))
			}
		}
		l.publish(ctx)
	}
}

func (l *Linkages) rearm(t *time.Timer) {
	next := time.Time{}
	for _, k := range l.links {
		if n := k.Next(); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(next.Sub(l.now()), 0)
	}
	t.Reset(d)
}

// start issues write w of linkage id in its own goroutine (nil: nothing).
func (l *Linkages) start(ctx context.Context, id string, w *Write) {
	if w == nil {
		return
	}
	k := l.links[id]
	go func() {
		wctx, cancel := context.WithTimeout(ctx, l.timeout)
		err := l.write(wctx, k.cfg.Device, k.cfg.Register, deref(k.cfg.Address), w.Value)
		cancel()
		select {
		case l.results <- result{id, w, err}:
		case <-ctx.Done():
		}
	}()
}

// publish journals, shows and alarms every changed linkage: failed raises
// ID:linkage, confirmed and released clear it.
func (l *Linkages) publish(ctx context.Context) {
	for _, id := range l.order {
		k := l.links[id]
		if !k.TakeChanged() {
			continue
		}
		v := k.View()
		if l.file != nil {
			b, _ := json.Marshal(LinkRecord{v, k.Fired()})
			if _, err := l.file.Write(append(b, '\n')); err == nil {
				err = l.file.Sync()
			} else {
				l.log.Error("linkage journal", "err", err)
			}
		}
		var op Op
		switch v.State {
		case LinkFailed:
			op = OpRaise
		case LinkConfirmed, LinkReleased:
			op = OpClear
		}
		if l.do != nil && op != "" {
			_, err := l.do(ctx, Command{Op: op, Alarm: id + ":linkage", By: v.By, Comment: v.Why + errSuffix(v.Error)})
			if err != nil && !isRefused(err) {
				l.log.Error("linkage alarm", "linkage", id, "err", err)
			}
		}
		l.mu.Lock()
		l.views[id] = v
		l.mu.Unlock()
		for _, f := range l.watch {
			f(v)
		}
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

func isRefused(err error) bool { return errors.Is(err, ErrRefused) }
