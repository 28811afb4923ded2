// An HTTPS server and its clients in one Go program, for the tracer's Go TLS uprobes
// (tests/trace_go_tls.rs). Usage: gotlspeer REQUESTS CLIENTS [h2|wrap]. Prints "ready PORT",
// waits for a line on standard input, then makes REQUESTS requests from each of CLIENTS
// goroutines (each with its own keep-alive connection; HTTP/2 negotiated by ALPN with h2, else
// HTTP/1.1) to /go-tls/C/I (the last one /go-tls/C/missing, a 404), reads every body and prints
// "done SECONDS" (the requests' wall time; bench/trace_overhead_go_tls.sh reads it). With wrap,
// the TLS connections run over wrapped net.Conns: the server's over one wrapper embedding the
// accepted *net.TCPConn, the clients' over two (as counting and limiting wrappers are).
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A net.Conn that counts what is written through it, embedding the one it wraps.
type counted struct {
	net.Conn
	written *atomic.Int64
}

func (c *counted) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// A net.Conn that names itself, embedding the one it wraps.
type named struct {
	net.Conn
	name string
}

// Accepts connections wrapped in counted.
type wrappingListener struct {
	net.Listener
	written *atomic.Int64
}

func (l *wrappingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &counted{Conn: c, written: l.written}, nil
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: gotlspeer REQUESTS CLIENTS [h2|wrap]")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[1])
	clients, _ := strconv.Atoi(os.Args[2])
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	mode := ""
	if len(os.Args) == 4 {
		mode = os.Args[3]
	}
	srv.EnableHTTP2 = mode == "h2"
	var written atomic.Int64
	if mode == "wrap" {
		srv.Listener = &wrappingListener{Listener: srv.Listener, written: &written}
	}
	srv.StartTLS()
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	fmt.Println("ready", u.Port())
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(1)
	}
	start := time.Now()
	var wg sync.WaitGroup
	failed := false
	var mu sync.Mutex
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// Each client its own transport: its own connection, kept alive.
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if mode == "wrap" {
				var d net.Dialer
				tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := d.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return &named{Conn: &counted{Conn: c, written: &written}, name: "client"}, nil
				}
			}
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			for i := 0; i < n; i++ {
				path := fmt.Sprintf("/go-tls/%d/%d", c, i)
				if i == n-1 {
					path = fmt.Sprintf("/go-tls/%d/missing", c)
				}
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					mu.Lock()
					failed = true
					mu.Unlock()
					fmt.Fprintln(os.Stderr, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}(c)
	}
	wg.Wait()
	if failed || (mode == "wrap" && written.Load() == 0) {
		os.Exit(1)
	}
	fmt.Printf("done %.6f\n", time.Since(start).Seconds())
}
