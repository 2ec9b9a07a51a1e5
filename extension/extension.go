package main

// The external extension: the Extensions API client and the life of the process
// ("Using the Lambda Extensions API to create extensions",
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html).
//
// Start-up, in Lambda's init phase and before the runtime starts:
//  1. act only when the config key is set and the disable key is not (the wrapper
//     script redirects the runtime under the same condition);
//  2. parse the config: invalid, one log line and a pure pass-through proxy;
//  3. the real Runtime API must accept connections, else exit 1 (init fails loudly);
//  4. listen on the proxy port: taken, one log line and no proxy; the wrapper then finds
//     no proxy of ours and fails open (the runtime talks to Lambda directly);
//  5. register for SHUTDOWN only: the proxy sees every invocation on the Runtime API, so
//     Lambda need not wait for this process at each invoke;
//  6. wait for SHUTDOWN, free the disk fill, exit 0.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const extensionsPrefix = "/2020-01-01/extension"

// ExtensionsClient talks to the Extensions API on one keep-alive connection.
type ExtensionsClient struct {
	api        string
	conn       net.Conn
	reader     *bufio.Reader
	Identifier string
}

func (c *ExtensionsClient) call(method, path string, headers []string, body []byte) (message, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.api, 5*time.Second)
		if err != nil {
			return message{}, nil, err
		}
		c.conn, c.reader = conn, bufio.NewReader(conn)
	}
	request := method + " " + extensionsPrefix + path + " HTTP/1.1\r\nHost: runtime-api\r\n"
	for _, header := range headers {
		request += header + "\r\n"
	}
	if method == "POST" {
		request += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	if _, err := c.conn.Write(append([]byte(request+"\r\n"), body...)); err != nil {
		return message{}, nil, err
	}
	for {
		response, err := readHead(c.reader, nil, true)
		if err != nil {
			return response, nil, fmt.Errorf("reading the Extensions API's answer: %w", unexpected(err))
		}
		if response.status >= 100 && response.status < 200 {
			continue
		}
		payload, err := readBody(c.reader, &response, nil)
		if err != nil {
			return response, nil, err
		}
		if !response.keepAlive {
			_ = c.conn.Close()
			c.conn = nil
		}
		if response.status < 200 || response.status > 299 {
			return response, payload, fmt.Errorf("%s %s answered %d: %.300s", method, path, response.status, payload)
		}
		return response, payload, nil
	}
}

// Register registers the extension under its file name for the given events.
func (c *ExtensionsClient) Register(name string, events []string) error {
	body := compactJSON(map[string][]string{"events": events})
	response, _, err := c.call("POST", "/register", []string{"Lambda-Extension-Name: " + name}, body)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(response.head), "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Lambda-Extension-Identifier") {
			c.Identifier = strings.TrimSpace(value)
		}
	}
	if c.Identifier == "" {
		return fmt.Errorf("register answered without Lambda-Extension-Identifier")
	}
	return nil
}

// NextEvent blocks until the next event and returns its eventType and shutdownReason.
func (c *ExtensionsClient) NextEvent() (string, string, error) {
	_, payload, err := c.call("GET", "/event/next", []string{"Lambda-Extension-Identifier: " + c.Identifier}, nil)
	if err != nil {
		return "", "", err
	}
	var event struct {
		EventType      string `json:"eventType"`
		ShutdownReason string `json:"shutdownReason"`
	}
	if err := json.Unmarshal(payload, &event); err != nil {
		return "", "", fmt.Errorf("event/next answered a body that is not an event: %v", err)
	}
	return event.EventType, event.ShutdownReason, nil
}

// environ reads the process environment as a lookup function (tests pass their own).
type environ func(string) string

func isDisabled(env environ) bool {
	value := strings.ToLower(env(disableEnvKey))
	return value == "1" || value == "true"
}

// proxyPort reads GAMEDAY_CHAOS_PORT (default 9140: not 9100, which AWS FIS and
// chaos-lambda-extension use, nor 9009, failure-lambda's).
func proxyPort(env environ) (int, error) {
	raw := env(portEnvKey)
	if raw == "" {
		return defaultPort, nil
	}
	port, err := strconv.Atoi(raw)
	if err != nil || port <= 0 || port >= 65536 || strings.TrimSpace(raw) != raw {
		return 0, fmt.Errorf("%s must be a TCP port number, got %q", portEnvKey, raw)
	}
	return port, nil
}

// runExtension is the extension process; it returns the exit code.
func runExtension(env environ, self string, log *Logger) int {
	api := env("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		log.Printf("FATAL: AWS_LAMBDA_RUNTIME_API is not set (not running in a Lambda environment)")
		return 1
	}
	name := filepath.Base(self)
	function := env("AWS_LAMBDA_FUNCTION_NAME")
	if function == "" {
		function = "unknown"
	}
	telemetry := NewTelemetry(os.Stdout, function, time.Now)
	var proxy *Proxy
	var disk *DiskFiller
	var config *Config
	summary := ""
	switch raw := env(configEnvKey); {
	case isDisabled(env):
		log.Printf("%s is set: disabled, the runtime talks to Lambda directly", disableEnvKey)
	case raw == "":
		log.Printf("%s is not set: idle, the runtime talks to Lambda directly", configEnvKey)
	default:
		parsed, err := ParseConfig(raw)
		if err != nil {
			log.Printf("invalid %s, passing every invocation through unchanged: %v", configEnvKey, err)
			summary = "pass-through"
		} else {
			config = parsed
			summary = describe(config, time.Now())
		}
		if conn, err := net.DialTimeout("tcp", api, 2*time.Second); err != nil {
			log.Printf("FATAL: cannot reach the Lambda Runtime API at %s: %v", api, err)
			return 1
		} else {
			_ = conn.Close()
		}
		dir := env(diskDirEnvKey)
		if dir == "" {
			dir = defaultDiskDir
		}
		disk = NewDiskFiller(dir)
		disk.RemoveStale()
		port, err := proxyPort(env)
		if err == nil {
			proxy = NewProxy(api, config, telemetry, log, NewRandom(nil), disk)
			err = proxy.Listen("127.0.0.1:" + strconv.Itoa(port))
		}
		if err != nil {
			log.Printf("no proxy, failing open (the runtime talks to Lambda directly, no fault is "+
				"injected in this environment): %v", err)
			proxy = nil
		} else if config != nil && config.Active(unixSeconds(time.Now())) {
			telemetry.Init(config.RunID)
		}
	}
	if proxy != nil {
		go proxy.Serve()
	}
	client := &ExtensionsClient{api: api}
	if err := client.Register(name, []string{"SHUTDOWN"}); err != nil {
		log.Printf("FATAL: cannot register with the Lambda Extensions API at %s: %v", api, err)
		return 1
	}
	if proxy != nil {
		log.Printf("runtime API proxy on %s -> %s; %s", proxy.Addr(), api, summary)
		if config != nil {
			freeAtExpiry(config, disk)
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		if disk != nil {
			disk.FreeAll()
		}
		os.Exit(0)
	}()
	for {
		eventType, reason, err := client.NextEvent()
		if err != nil {
			log.Printf("FATAL: lost the Lambda Extensions API: %v", err)
			if disk != nil {
				disk.FreeAll()
			}
			return 1
		}
		if eventType == "SHUTDOWN" {
			if proxy != nil {
				proxy.Close()
			}
			if disk != nil {
				disk.FreeAll()
			}
			if reason == "" {
				reason = "unknown"
			}
			log.Printf("shutdown (%s)", reason)
			return 0
		}
	}
}

// freeAtExpiry frees the disk fill at the config's expiry even when no invocation comes.
func freeAtExpiry(config *Config, disk *DiskFiller) {
	if config.Disk == nil {
		return
	}
	left := time.Until(time.Unix(0, int64(config.ExpiresAt*1e9)))
	time.AfterFunc(max(left, 0), disk.FreeAll)
}

func describe(config *Config, now time.Time) string {
	expires := time.Unix(0, int64(config.ExpiresAt*1e9)).UTC().Format("2006-01-02T15:04:05Z")
	text := fmt.Sprintf("run %s, faults %s, expires %s", config.RunID, compactJSON(config.Normalized()), expires)
	if !config.Active(unixSeconds(now)) {
		text += " (already expired: injecting nothing)"
	}
	return text
}
