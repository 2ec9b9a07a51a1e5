package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestProbeFindsOurProxyOrFailsOpen(t *testing.T) {
	api := newFakeAPI(t)
	ours := startProxy(t, api.addr(), "")
	ourPort := ours.proxy.listener.Addr().(*net.TCPAddr).Port
	foreign, _ := net.Listen("tcp", "127.0.0.1:0")
	defer foreign.Close()
	go func() {
		for {
			conn, err := foreign.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
			conn.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	for _, test := range []struct {
		name, port, upstream, want string
		code                       int
	}{
		{"our proxy", strconv.Itoa(ourPort), api.addr(), "127.0.0.1:" + strconv.Itoa(ourPort) + "\n", 0},
		{"our proxy for another environment", strconv.Itoa(ourPort), "127.0.0.1:1", "relays to", probeFailedOpen},
		{"another program on the port", strconv.Itoa(foreign.Addr().(*net.TCPAddr).Port), api.addr(), "not the gameday-chaos proxy", probeFailedOpen},
		{"nothing listens", strconv.Itoa(closedPort), api.addr(), "nothing listens", probeFailedOpen},
		{"a port that is no port", "90000", api.addr(), "must be a TCP port", probeFailedOpen},
	} {
		t.Run(test.name, func(t *testing.T) {
			env := map[string]string{portEnvKey: test.port, "AWS_LAMBDA_RUNTIME_API": test.upstream,
				"AWS_LAMBDA_FUNCTION_NAME": "fn", configEnvKey: config(`{"error":{"rate":1}}`)}
			var out, errs bytes.Buffer
			code := runProbe(func(key string) string { return env[key] }, &out, &errs)
			if code != test.code {
				t.Fatalf("exit %d, stderr %s", code, errs.String())
			}
			if test.code == 0 && out.String() != test.want {
				t.Fatalf("stdout %q", out.String())
			}
			if test.code != 0 && (!strings.Contains(errs.String(), test.want) || out.Len() != 0 ||
				!strings.Contains(errs.String(), `"ExtensionFailOpen":1`) || !strings.Contains(errs.String(), `"run_id":"r-t"`)) {
				t.Fatalf("stdout %q stderr %q", out.String(), errs.String())
			}
		})
	}
}
