//go:build linux

package main

import (
	"io"
	"net"
	"sync"
)

// Gate is a TCP forwarder between one site and its broker node that can
// cut the site off (its connections closed, new ones refused) and let it
// back: the site keeps running, its plant keeps alarming, its events wait
// in its outbox. One accept goroutine, two copy goroutines a connection;
// Close ends them all.
type Gate struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	open  bool
	conns map[net.Conn]bool
}

// NewGate listens on a free loopback port and forwards to target
// (host:port) while open.
func NewGate(target string) (*Gate, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &Gate{l: l, target: target, open: true, conns: map[net.Conn]bool{}}
	go g.accept()
	return g, nil
}

// URL is the gate as paho dials it.
func (g *Gate) URL() string { return "tcp://" + g.l.Addr().String() }

func (g *Gate) accept() {
	for {
		c, err := g.l.Accept()
		if err != nil {
			return
		}
		go g.forward(c)
	}
}

func (g *Gate) forward(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	if !g.open {
		g.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	g.conns[c], g.conns[up] = true, true
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
}

// SetOpen cuts the site off (false: every connection closed, new ones
// closed at once) or lets it back (true).
func (g *Gate) SetOpen(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = open
	if !open {
		for c := range g.conns {
			c.Close()
		}
	}
}

// Close stops accepting and closes every connection.
func (g *Gate) Close() {
	g.l.Close()
	g.SetOpen(false)
}
