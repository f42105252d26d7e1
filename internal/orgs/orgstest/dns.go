package orgstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNS is an authoritative DNS server on 127.0.0.1 (UDP and TCP on one port) for tests of domain
// verification: it answers TXT queries from the records the test sets, NXDOMAIN for names it
// does not know, and SERVFAIL for names the test marks as failing.
type DNS struct {
	// Addr is the server's host:port, for orgs.Config.Resolver.
	Addr string

	mu      sync.Mutex
	txt     map[string][]string
	names   map[string]bool
	failing map[string]bool
	queries int
}

// StartDNS runs a DNS server until the test ends.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	s := &DNS{txt: map[string][]string{}, names: map[string]bool{}, failing: map[string]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// Bind UDP on a free port, then TCP on the same one; retry if another process took it.
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			continue
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("orgstest: DNS listen: %v", err)
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	servers := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	var wg sync.WaitGroup
	for _, srv := range servers {
		started, failed := make(chan struct{}), make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		}()
		select {
		case <-started:
		case err := <-failed:
			t.Fatalf("orgstest: DNS serve: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			_ = srv.Shutdown()
		}
		wg.Wait()
	})
	return s
}

func key(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// SetTXT makes name exist with these TXT values (none: the name exists without TXT records).
func (s *DNS) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[key(name)] = true
	s.txt[key(name)] = values
}

// Fail makes queries for name answer SERVFAIL.
func (s *DNS) Fail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[key(name)] = true
}

// Queries is the number of queries answered so far.
func (s *DNS) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *DNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	for _, q := range r.Question {
		name := key(q.Name)
		switch {
		case s.failing[name]:
			m.Rcode = dns.RcodeServerFailure
		case !s.names[name]:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			for _, v := range s.txt[name] {
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
					Txt: splitTXT(v),
				})
			}
		}
	}
	_ = w.WriteMsg(m)
}

// splitTXT cuts a value into the 255-byte strings a TXT record holds.
func splitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
