package main

// The exec wrapper's check (the layer's /opt/gameday-chaos-wrapper script runs
// `gameday-chaos probe` when a config is set and the extension is not disabled, then execs
// the runtime): it asks the proxy on GAMEDAY_CHAOS_PORT whether it is this extension's
// proxy relaying to this environment's Runtime API. If so the runtime is pointed at the
// proxy; if not, it fails open: the runtime keeps the real Runtime API ("Modifying the
// runtime environment", wrapper scripts,
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html). Failing open is
// logged and counted (ExtensionFailOpen): the environment runs unfaulted.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

const probeTimeout = 500 * time.Millisecond

// probeProxy checks that our proxy answers on port and relays to upstream.
func probeProxy(port int, upstream string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), timeout)
	if err != nil {
		return fmt.Errorf("nothing listens on 127.0.0.1:%d (%v)", port, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("GET " + healthPath + " HTTP/1.1\r\nHost: gameday-chaos\r\nConnection: close\r\n\r\n")); err != nil {
		return fmt.Errorf("127.0.0.1:%d took no request: %v", port, err)
	}
	reader := bufio.NewReader(conn)
	response, err := readHead(reader, nil, true)
	if err != nil || response.status != 200 {
		return fmt.Errorf("127.0.0.1:%d is not the gameday-chaos proxy (status %d, %v)", port, response.status, err)
	}
	body, err := readBody(reader, &response, nil)
	var health struct {
		Upstream string `json:"upstream"`
	}
	if err != nil || json.Unmarshal(body, &health) != nil || health.Upstream != upstream {
		return fmt.Errorf("the proxy on 127.0.0.1:%d relays to %q, not to this environment's Runtime API %q",
			port, health.Upstream, upstream)
	}
	return nil
}

// runProbe is `gameday-chaos probe`: it prints the address the runtime must use (our
// proxy) and exits 0, or reports failing open (log line and ExtensionFailOpen, both on
// stderr: Lambda sends the runtime's stderr to the log stream too, and stdout here is the
// wrapper's) and exits 3.
func runProbe(env environ, out, errs io.Writer) int {
	log := &Logger{out: errs}
	port, err := proxyPort(env)
	if err == nil {
		err = probeProxy(port, env("AWS_LAMBDA_RUNTIME_API"), probeTimeout)
	}
	if err == nil {
		fmt.Fprintf(out, "127.0.0.1:%d\n", port)
		return 0
	}
	log.Printf("FAIL OPEN: %v; the runtime talks to the Lambda Runtime API directly and no "+
		"fault is injected in this execution environment", err)
	runID := "unknown"
	if config, parseErr := ParseConfig(env(configEnvKey)); parseErr == nil {
		runID = config.RunID
	}
	NewTelemetry(errs, env("AWS_LAMBDA_FUNCTION_NAME"), time.Now).FailOpen(runID, err.Error())
	return probeFailedOpen
}

const probeFailedOpen = 3
