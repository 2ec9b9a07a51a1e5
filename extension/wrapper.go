package main

// The exec wrapper's second half (the layer's /opt/gameday-chaos-wrapper script runs
// `gameday-chaos wrap COMMAND...` when a config is set and the extension is not disabled):
// it asks the proxy on GAMEDAY_CHAOS_PORT whether it is this extension's proxy relaying to
// this environment's Runtime API, then replaces itself with the runtime, pointed at the
// proxy, or, failing open, at the real Runtime API ("Modifying the runtime environment",
// wrapper scripts, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html).
// Failing open is logged and counted (ExtensionFailOpen): the environment runs unfaulted.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
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

// wrapCommand returns the environment the runtime starts with (fails open when needed).
func wrapCommand(env environ, environment []string, log *Logger, telemetry *Telemetry) []string {
	upstream := env("AWS_LAMBDA_RUNTIME_API")
	port, err := proxyPort(env)
	if err == nil {
		err = probeProxy(port, upstream, probeTimeout)
	}
	if err != nil {
		log.Printf("FAIL OPEN: %v; the runtime talks to the Lambda Runtime API directly and no "+
			"fault is injected in this execution environment", err)
		runID := "unknown"
		if config, parseErr := ParseConfig(env(configEnvKey)); parseErr == nil {
			runID = config.RunID
		}
		telemetry.FailOpen(runID, err.Error())
		return environment
	}
	return setEnv(environment, "AWS_LAMBDA_RUNTIME_API", "127.0.0.1:"+strconv.Itoa(port))
}

func setEnv(environment []string, key, value string) []string {
	out := make([]string, 0, len(environment)+1)
	for _, entry := range environment {
		if !strings.HasPrefix(entry, key+"=") {
			out = append(out, entry)
		}
	}
	return append(out, key+"="+value)
}

// runWrapper execs the runtime command; it returns only when that fails.
func runWrapper(args []string, env environ, log *Logger) int {
	if len(args) == 0 {
		log.Printf("wrap: no runtime command given")
		return 2
	}
	function := env("AWS_LAMBDA_FUNCTION_NAME")
	telemetry := NewTelemetry(os.Stdout, function, time.Now)
	environment := wrapCommand(env, os.Environ(), log, telemetry)
	path, err := exec.LookPath(args[0])
	if err != nil {
		log.Printf("wrap: cannot find the runtime command %q: %v", args[0], err)
		return 127
	}
	err = syscall.Exec(path, args, environment)
	log.Printf("wrap: cannot start the runtime %q: %v", path, err)
	return 126
}
