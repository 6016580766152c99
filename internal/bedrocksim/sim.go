package bedrocksim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Sim is a running simulator: one listener per region plus the control API.
// All methods are safe for concurrent use.
type Sim struct {
	cfg     Config
	log     zerolog.Logger
	order   []string
	regions map[string]*region

	tlsConfig *tls.Config
	cert      *x509.Certificate
	pool      *x509.CertPool
	client    *http.Client

	ctx    context.Context // ends on Close; parent of every request context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	control   *http.Server
	controlLn net.Listener
	closeOnce sync.Once
	closeErr  error

	// inflight tracks running handlers so Close can wait for them; closed
	// (under inflightMu) stops new ones from joining once Close waits.
	inflightMu sync.Mutex
	closed     bool
	inflight   sync.WaitGroup
}

// enter registers a running handler; it fails once the simulator is closed.
func (s *Sim) enter() bool {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Start validates cfg, opens every listener and returns the running
// simulator. Close it when done.
func Start(cfg Config) (*Sim, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("bedrocksim: invalid config: %w", err)
	}
	s := &Sim{cfg: cfg, log: cfg.Logger, order: cfg.Regions, regions: map[string]*region{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.TLS {
		cert, leaf, err := selfSigned(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("bedrocksim: tls: %w", err)
		}
		s.cert = leaf
		s.pool = x509.NewCertPool()
		s.pool.AddCert(leaf)
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
	}
	s.client = &http.Client{Transport: tr}

	for i, name := range cfg.Regions {
		rg := &region{sim: s, name: name, index: i, cache: map[string]struct{}{},
			port: cfg.Ports[name], fault: cfg.Faults[name]}
		s.regions[name] = rg
		if rg.fault.Outage == OutageRefuse {
			// A refused region still needs a port to come back on.
			if err := rg.reservePort(); err != nil {
				s.Close()
				return nil, err
			}
			continue
		}
		if err := rg.listenLocked(); err != nil {
			s.Close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.ControlAddr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("bedrocksim: control listener on %s: %w", cfg.ControlAddr, err)
	}
	s.controlLn = ln
	s.control = &http.Server{
		Handler:           s.controlHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.wg.Go(func() { _ = s.control.Serve(ln) })
	return s, nil
}

// reservePort picks a free port for a region that starts refused.
func (rg *region) reservePort() error {
	if rg.port != 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(rg.sim.cfg.Addr, "0"))
	if err != nil {
		return fmt.Errorf("bedrocksim: region %s: %w", rg.name, err)
	}
	rg.port = ln.Addr().(*net.TCPAddr).Port
	return ln.Close()
}

// listenLocked opens the region's listener (on its port, if it has one) and
// serves it. rg.mu must be held, or rg not yet shared.
func (rg *region) listenLocked() error {
	s := rg.sim
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.Addr, strconv.Itoa(rg.port)))
	if err != nil {
		return fmt.Errorf("bedrocksim: region %s: listen: %w", rg.name, err)
	}
	rg.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{
		Handler:           rg,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		// Aborted connections (refuse outages, clients hanging up) are
		// expected here; they are counted and logged per request instead.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if s.tlsConfig != nil {
		srv.TLSConfig = s.tlsConfig.Clone()
		s.wg.Go(func() { _ = srv.ServeTLS(ln, "", "") })
	} else {
		s.wg.Go(func() { _ = srv.Serve(ln) })
	}
	rg.srv = srv
	return nil
}

// closeLocked closes the listener and every open connection, so clients see
// refused connections and broken streams, as when an endpoint goes away.
func (rg *region) closeLocked() {
	if rg.srv != nil {
		_ = rg.srv.Close()
		rg.srv = nil
	}
}

// setFault installs f, opening or closing the listener as the outage
// requires. The deterministic error sequence restarts with every change.
func (rg *region) setFault(f Fault) error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	rg.fault = f
	rg.gate = faultGate{}
	if rg.sim.ctx.Err() != nil {
		return nil // closed: never reopen
	}
	if f.Outage == OutageRefuse {
		rg.closeLocked()
		return nil
	}
	if rg.srv == nil {
		return rg.listenLocked()
	}
	return nil
}

func (s *Sim) region(name string) (*region, error) {
	rg, ok := s.regions[name]
	if !ok {
		return nil, fmt.Errorf("bedrocksim: region %q is not served", name)
	}
	return rg, nil
}

// URL is the region's base endpoint, e.g. "http://127.0.0.1:40123", for
// the SDK's BaseEndpoint. It stays the same across refuse outages. It is ""
// for a region that is not served.
func (s *Sim) URL(region string) string {
	rg, ok := s.regions[region]
	if !ok {
		return ""
	}
	rg.mu.Lock()
	defer rg.mu.Unlock()
	scheme := "http"
	if s.cfg.TLS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(s.cfg.Addr, strconv.Itoa(rg.port))
}

// Regions lists the served regions in configuration order.
func (s *Sim) Regions() []string { return append([]string(nil), s.order...) }

// ControlURL is the control API's base URL.
func (s *Sim) ControlURL() string { return "http://" + s.controlLn.Addr().String() }

// ApplyFault validates and installs a region's fault. Outage "refuse" closes
// the region's listener and connections; any other fault reopens it on the
// same port.
func (s *Sim) ApplyFault(region string, f Fault) error {
	rg, err := s.region(region)
	if err != nil {
		return err
	}
	f, err = f.normalize()
	if err != nil {
		return fmt.Errorf("bedrocksim: region %s: %w", region, err)
	}
	return rg.setFault(f)
}

// SetFault is ApplyFault for tests: it panics when the region is unknown,
// the fault is invalid, or the listener cannot be reopened, all of which
// are mistakes in the test rather than conditions to handle.
func (s *Sim) SetFault(region string, f Fault) {
	if err := s.ApplyFault(region, f); err != nil {
		panic(err)
	}
}

// ResetFaults makes every region healthy, reopening refused listeners.
func (s *Sim) ResetFaults() error {
	var errs []error
	for _, name := range s.order {
		errs = append(errs, s.regions[name].setFault(Fault{}))
	}
	return errors.Join(errs...)
}

// ClearFaults is ResetFaults for tests; it panics if a listener cannot be
// reopened (its port was taken meanwhile).
func (s *Sim) ClearFaults() {
	if err := s.ResetFaults(); err != nil {
		panic(err)
	}
}

// Faults returns the current fault of every region.
func (s *Sim) Faults() map[string]Fault {
	out := make(map[string]Fault, len(s.order))
	for _, name := range s.order {
		out[name] = s.regions[name].currentFault()
	}
	return out
}

// Counters returns a snapshot of a region's counters (zero for a region
// that is not served).
func (s *Sim) Counters(region string) Counters {
	rg, ok := s.regions[region]
	if !ok {
		return Counters{}
	}
	return rg.c.snapshot()
}

// ResetCounters zeroes every region's counters.
func (s *Sim) ResetCounters() {
	for _, rg := range s.regions {
		rg.c.reset()
	}
}

// ResetCache forgets every region's prompt cache, so the next request with
// a cache point writes again.
func (s *Sim) ResetCache() {
	for _, rg := range s.regions {
		rg.mu.Lock()
		clear(rg.cache)
		rg.mu.Unlock()
	}
}

// Handler returns the region's request handler for in-process use (for
// example behind httptest.Server). It shares faults, counters and cache with
// the region's listener; an Outage "refuse" makes it drop the connection.
func (s *Sim) Handler(region string) (http.Handler, error) {
	rg, err := s.region(region)
	if err != nil {
		return nil, err
	}
	return rg, nil
}

// HTTPClient returns a client for the simulator's endpoints; with TLS it
// trusts the simulator's certificate. It has no overall timeout, so streams
// can run as long as they need.
func (s *Sim) HTTPClient() *http.Client { return s.client }

// CertPool holds the simulator's certificate, or is nil without TLS.
func (s *Sim) CertPool() *x509.CertPool { return s.pool }

// CertificatePEM is the simulator's certificate in PEM, or nil without TLS,
// for clients in other processes.
func (s *Sim) CertificatePEM() []byte {
	if s.cert == nil {
		return nil
	}
	return certPEM(s.cert)
}

// Close stops every listener and connection, ends running requests and
// waits for them and the servers to return. It is safe to call more than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.inflightMu.Lock()
		s.closed = true
		s.inflightMu.Unlock()
		s.cancel() // ends every delay of running handlers
		var errs []error
		if s.control != nil {
			errs = append(errs, s.control.Close())
		}
		for _, rg := range s.regions {
			rg.mu.Lock()
			rg.closeLocked()
			rg.mu.Unlock()
		}
		s.inflight.Wait()
		s.wg.Wait()
		s.client.CloseIdleConnections()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
