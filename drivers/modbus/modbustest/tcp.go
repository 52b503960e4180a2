package modbustest

import (
	"errors"
	"io"
	"log"
	"net"
	"testing"
	"time"

	smb "github.com/simonvetter/modbus"
)

// TCPServer is a simonvetter/modbus TCP server on a loopback port. Units
// (any unit id) are created on first use; Unit returns one to set values or
// behaviour.
type TCPServer struct {
	units
	addr string
	srv  *smb.ModbusServer
	stop chan struct{}
}

// StartTCP starts a server on a free loopback port and stops it when the
// test ends. It fails the test if the server cannot start.
func StartTCP(tb testing.TB) *TCPServer {
	tb.Helper()
	s, err := NewTCP("127.0.0.1:0")
	if err != nil {
		tb.Fatalf("modbustest: %v", err)
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

// NewTCP starts a server on addr ("127.0.0.1:0" picks a free port); the
// caller stops it. For programs (the simulator, benchmarks).
func NewTCP(addr string) (*TCPServer, error) {
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		addr = l.Addr().String()
		l.Close()
	}
	s := &TCPServer{addr: addr, stop: make(chan struct{})}
	return s, s.listen()
}

// listen starts a fresh simonvetter server on s.addr: restarting a stopped
// simonvetter server object races with its old accept loop.
func (s *TCPServer) listen() error {
	srv, err := smb.NewServer(&smb.ServerConfiguration{
		URL: "tcp://" + s.addr, Timeout: time.Minute, MaxClients: 1000,
		Logger: log.New(io.Discard, "", 0),
	}, &handler{s})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// Addr is the server's host:port; it stays the same across Stop and Start.
func (s *TCPServer) Addr() string { return s.addr }

// Unit returns unit id, creating it.
func (s *TCPServer) Unit(id byte) *Unit { return s.unit(id) }

// Stop closes the listener and every connection (a slave restart or power
// loss). Start listens on the same port again.
func (s *TCPServer) Stop() error {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	srv := s.srv
	s.mu.Unlock()
	return srv.Stop()
}

// Start listens again on the same address after Stop.
func (s *TCPServer) Start() error {
	s.mu.Lock()
	s.stop = make(chan struct{})
	s.mu.Unlock()
	return s.listen()
}

func (s *TCPServer) stopped() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop
}

var exErrors = map[byte]error{
	1: smb.ErrIllegalFunction, 2: smb.ErrIllegalDataAddress, 3: smb.ErrIllegalDataValue,
	4: smb.ErrServerDeviceFailure, 5: smb.ErrAcknowledge, 6: smb.ErrServerDeviceBusy,
	8: smb.ErrMemoryParityError, 10: smb.ErrGWPathUnavailable, 11: smb.ErrGWTargetFailedToRespond,
}

var errSilent = errors.New("silent")

// wait applies the unit's behaviour before an answer: the delay, silence
// (held until the unit is told otherwise or the server stops), an
// exception.
func (s *TCPServer) wait(u *Unit, write bool) error {
	b := u.begin(write)
	stop := s.stopped()
	if b.delay > 0 {
		t := time.NewTimer(b.delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return errSilent
		}
	}
	for b.mode == Silent {
		select {
		case <-b.changed:
		case <-stop:
			return errSilent
		}
		b = u.snapshot()
	}
	if b.exception != 0 {
		if err, ok := exErrors[b.exception]; ok {
			return err
		}
		return smb.ErrServerDeviceFailure
	}
	return nil
}

func (u *Unit) snapshot() behaviour {
	u.mu.Lock()
	defer u.mu.Unlock()
	return behaviour{u.delay, u.mode, u.exception, u.changed}
}

type handler struct{ s *TCPServer }

func (h *handler) HandleCoils(r *smb.CoilsRequest) ([]bool, error) {
	return serve(h.s, r.UnitId, r.IsWrite, r.Addr, r.Quantity, r.Args, func(u *Unit) *table[bool] { return &u.coils })
}

func (h *handler) HandleDiscreteInputs(r *smb.DiscreteInputsRequest) ([]bool, error) {
	return serve(h.s, r.UnitId, false, r.Addr, r.Quantity, nil, func(u *Unit) *table[bool] { return &u.discrete })
}

func (h *handler) HandleHoldingRegisters(r *smb.HoldingRegistersRequest) ([]uint16, error) {
	return serve(h.s, r.UnitId, r.IsWrite, r.Addr, r.Quantity, r.Args, func(u *Unit) *table[uint16] { return &u.holding })
}

func (h *handler) HandleInputRegisters(r *smb.InputRegistersRequest) ([]uint16, error) {
	return serve(h.s, r.UnitId, false, r.Addr, r.Quantity, nil, func(u *Unit) *table[uint16] { return &u.input })
}

// serve answers one request on the table pick chooses, after the unit's
// behaviour (delay, silence, exception): a write stores args, a read past
// the last address is an illegal data address.
func serve[T any](s *TCPServer, unit uint8, write bool, addr, qty uint16, args []T, pick func(*Unit) *table[T]) ([]T, error) {
	u := s.unit(unit)
	if err := s.wait(u, write); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if int(addr)+int(qty) > 65536 {
		return nil, smb.ErrIllegalDataAddress
	}
	if write {
		pick(u).set(int(addr), args)
		return nil, nil
	}
	return pick(u).get(int(addr), int(qty)), nil
}
