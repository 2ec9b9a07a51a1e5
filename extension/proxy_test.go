package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is Lambda's Runtime API as the proxy sees it: queued invocations for /next,
// recorded results.
type fakeAPI struct {
	server   *httptest.Server
	events   chan fakeEvent
	results  chan fakeResult
	mu       sync.Mutex
	restores int
	// snapshot, when set, is read as each result arrives (what was logged by then)
	snapshot func() string
}

type fakeEvent struct {
	id, body string
	deadline int64
}

type fakeResult struct {
	id, action, errorType, mode string
	body                        []byte
	trailer                     http.Header
	chunked                     bool
	logged                      string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	api := &fakeAPI{events: make(chan fakeEvent, 16), results: make(chan fakeResult, 16)}
	api.server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.server.Close)
	return api
}

func (a *fakeAPI) addr() string { return strings.TrimPrefix(a.server.URL, "http://") }

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "GET" && r.URL.Path == nextPath:
		select {
		case event := <-a.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", event.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(event.deadline, 10))
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-test")
			_, _ = io.WriteString(w, event.body)
		case <-r.Context().Done():
		}
	case r.Method == "GET" && r.URL.Path == restoreNextPath:
		a.mu.Lock()
		a.restores++
		a.mu.Unlock()
		w.WriteHeader(200)
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, invocationPrefix):
		rest := strings.TrimPrefix(r.URL.Path, invocationPrefix)
		slash := strings.LastIndexByte(rest, '/')
		body, _ := io.ReadAll(r.Body)
		logged := ""
		if a.snapshot != nil {
			logged = a.snapshot()
		}
		a.results <- fakeResult{logged: logged, id: rest[:slash], action: rest[slash+1:], body: body,
			errorType: r.Header.Get(errorTypeHeader), mode: r.Header.Get("Lambda-Runtime-Function-Response-Mode"),
			trailer: r.Trailer, chunked: len(r.TransferEncoding) > 0}
		w.WriteHeader(202)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	default:
		w.WriteHeader(404)
	}
}

func (a *fakeAPI) result(t *testing.T) fakeResult {
	t.Helper()
	select {
	case result := <-a.results:
		return result
	case <-time.After(5 * time.Second):
		t.Fatal("the Runtime API received no result")
	}
	return fakeResult{}
}

type proxyUnderTest struct {
	proxy  *Proxy
	emf    *bytes.Buffer
	emfW   *lockedWriter
	logs   *syncBuffer
	sleeps *[]time.Duration
	dir    string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProxy(t *testing.T, upstream string, configText string) proxyUnderTest {
	t.Helper()
	var config *Config
	if configText != "" {
		parsed, err := ParseConfig(configText)
		if err != nil {
			t.Fatal(err)
		}
		config = parsed
	}
	emf := &bytes.Buffer{}
	logs := &syncBuffer{}
	var sleeps []time.Duration
	var sleepsMu sync.Mutex
	dir := t.TempDir()
	fixed := func(b []byte) error { copy(b, bytes.Repeat([]byte{7}, len(b))); return nil }
	emfW := &lockedWriter{w: emf}
	proxy := NewProxy(upstream, config, NewTelemetry(emfW, "fn", time.Now),
		&Logger{out: logs}, NewRandom(fixed), NewDiskFiller(dir))
	proxy.sleep = func(d time.Duration) {
		sleepsMu.Lock()
		defer sleepsMu.Unlock()
		sleeps = append(sleeps, d)
	}
	if err := proxy.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go proxy.Serve()
	t.Cleanup(proxy.Close)
	return proxyUnderTest{proxy: proxy, emf: emf, emfW: emfW, logs: logs, sleeps: &sleeps, dir: dir}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*bytes.Buffer).String()
}

// Lambda may shut the environment down as soon as it has an invocation's result: the
// injected fault is reported before its result is posted, or the line can be lost.
func TestAnInjectedFaultIsReportedBeforeItsResultIsPosted(t *testing.T) {
	for _, faults := range []string{`{"error":{"status_code":502,"rate":1}}`, `{"exception":{"rate":1}}`} {
		api := newFakeAPI(t)
		p := startProxy(t, api.addr(), config(faults))
		api.snapshot = p.emfW.String
		runtime := dialRuntime(t, p.proxy.Addr())
		api.events <- fakeEvent{id: "id-1", body: `{}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
		runtime.do(t, getNext)
		runtime.do(t, post("id-1", "response", `{"statusCode":200,"body":"ok"}`))
		if result := api.result(t); !strings.Contains(result.logged, `"request_id":"id-1"`) {
			t.Errorf("%s: when the result arrived the telemetry held only %q", faults, result.logged)
		}
	}
}

// runtimeConn is the runtime's side: raw requests, parsed responses.
type runtimeConn struct {
	conn   net.Conn
	reader *bufio.Reader
}

func dialRuntime(t *testing.T, address string) *runtimeConn {
	t.Helper()
	conn, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &runtimeConn{conn: conn, reader: bufio.NewReader(conn)}
}

func (r *runtimeConn) do(t *testing.T, raw string) (*http.Response, []byte) {
	t.Helper()
	if _, err := io.WriteString(r.conn, raw); err != nil {
		t.Fatal(err)
	}
	return r.read(t)
}

func (r *runtimeConn) read(t *testing.T) (*http.Response, []byte) {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	response, err := http.ReadResponse(r.reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(response.Body)
	return response, body
}

const getNext = "GET " + nextPath + " HTTP/1.1\r\nHost: x\r\n\r\n"

func post(id, action, body string, extra ...string) string {
	head := "POST " + invocationPrefix + id + "/" + action + " HTTP/1.1\r\nHost: x\r\n"
	for _, line := range extra {
		head += line + "\r\n"
	}
	return head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func config(faults string) string {
	return `{"version":2,"run_id":"r-t","expires_at":4000000000,"faults":` + faults + `}`
}

func TestPassThroughRelaysEventAndResultUnchanged(t *testing.T) {
	for _, test := range []struct{ name, config string }{
		{"no config", ""},
		{"faults that never fire", config(`{"latency":{"ms":100,"rate":0},"error":{"rate":0},"disk":{"mb":1,"rate":0}}`)},
		{"expired config", `{"version":2,"run_id":"r","expires_at":1,"faults":{"error":{"rate":1}}}`},
	} {
		t.Run(test.name, func(t *testing.T) {
			api := newFakeAPI(t)
			p := startProxy(t, api.addr(), test.config)
			runtime := dialRuntime(t, p.proxy.Addr())
			api.events <- fakeEvent{id: "id-1", body: `{"order": 42}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
			response, event := runtime.do(t, getNext)
			if string(event) != `{"order": 42}` || response.Header.Get("Lambda-Runtime-Aws-Request-Id") != "id-1" ||
				response.Header.Get("Lambda-Runtime-Trace-Id") != "Root=1-test" {
				t.Fatalf("event %q headers %v", event, response.Header)
			}
			answer, body := runtime.do(t, post("id-1", "response", `{"statusCode":200,"body":"ok"}`))
			result := api.result(t)
			if answer.StatusCode != 202 || string(body) != `{"status":"OK"}` || result.action != "response" ||
				string(result.body) != `{"statusCode":200,"body":"ok"}` {
				t.Fatalf("answer %d %q, result %+v", answer.StatusCode, body, result)
			}
			_, _ = runtime.do(t, post("id-1", "error", `{"errorType":"E"}`, errorTypeHeader+": Own"))
			if own := api.result(t); own.errorType != "Own" || string(own.body) != `{"errorType":"E"}` {
				t.Fatalf("function error relayed as %+v", own)
			}
			if strings.Contains(p.emf.String(), metricInjected) {
				t.Fatalf("injected: %s", p.emf.String())
			}
		})
	}
}

func TestOutcomeFaultsReplaceTheResult(t *testing.T) {
	proxyBody := `{"statusCode":200,"headers":{"Content-Type":"text/plain"},"body":"abcdefgh"}`
	for _, test := range []struct {
		name, faults, action string
		check                func(t *testing.T, result fakeResult)
	}{
		{"error replaces a response", `{"error":{"status_code":502,"rate":1}}`, "response", func(t *testing.T, r fakeResult) {
			if r.action != "response" || !bytes.Equal(r.body, ErrorResponse(502, formatRestAPI, false, "r-t")) {
				t.Errorf("%s %s", r.action, r.body)
			}
		}},
		{"error replaces a function error", `{"error":{"rate":1}}`, "error", func(t *testing.T, r fakeResult) {
			if r.action != "response" || !bytes.Contains(r.body, []byte(`"statusCode":503`)) {
				t.Errorf("%s %s", r.action, r.body)
			}
		}},
		{"exception", `{"exception":{"rate":1}}`, "response", func(t *testing.T, r fakeResult) {
			if r.action != "error" || r.errorType != injectedExceptionType || !bytes.Equal(r.body, ExceptionBody("r-t")) {
				t.Errorf("%+v", r)
			}
		}},
		{"corruption", `{"corruption":{"rate":1}}`, "response", func(t *testing.T, r fakeResult) {
			if !bytes.Contains(r.body, []byte(`"body":"abcd"`)) || !bytes.Contains(r.body, []byte(markerHeader)) {
				t.Errorf("%s", r.body)
			}
		}},
		{"corruption leaves a function error alone", `{"corruption":{"rate":1}}`, "error", func(t *testing.T, r fakeResult) {
			if r.action != "error" || string(r.body) != proxyBody {
				t.Errorf("%+v", r)
			}
		}},
		{"timeout holds then relays the function's own result", `{"timeout":{"rate":1}}`, "response", func(t *testing.T, r fakeResult) {
			if r.action != "response" || string(r.body) != proxyBody {
				t.Errorf("%+v", r)
			}
		}},
	} {
		t.Run(test.name, func(t *testing.T) {
			api := newFakeAPI(t)
			p := startProxy(t, api.addr(), config(test.faults))
			runtime := dialRuntime(t, p.proxy.Addr())
			deadline := time.Now().Add(3 * time.Second).UnixMilli()
			// twice on one connection: a replaced message must leave the framing intact
			for _, id := range []string{"id-2", "id-3"} {
				api.events <- fakeEvent{id: id, body: `{}`, deadline: deadline}
				runtime.do(t, getNext)
				answer, _ := runtime.do(t, post(id, test.action, proxyBody))
				if answer.StatusCode != 202 {
					t.Fatalf("runtime got %d", answer.StatusCode)
				}
				result := api.result(t)
				if result.id != id {
					t.Fatalf("result for %s, want %s", result.id, id)
				}
				test.check(t, result)
			}
			if strings.Contains(test.name, "timeout") {
				held := (*p.sleeps)[0]
				want := time.Until(time.UnixMilli(deadline).Add(timeoutGrace))
				if held <= 0 || held > want+100*time.Millisecond || held < want-time.Second {
					t.Errorf("held %v, want about %v", held, want)
				}
			}
		})
	}
}

func TestPreventExecutionAnswersWithoutTheRuntime(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), config(`{"error":{"status_code":500,"rate":1,"prevent_execution":true,
		"match":[{"path":"skip","equals":true}]}}`))
	api.snapshot = p.emfW.String
	runtime := dialRuntime(t, p.proxy.Addr())
	api.events <- fakeEvent{id: "skipped", body: `{"skip":true}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
	api.events <- fakeEvent{id: "handled", body: `{"skip":false}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
	response, event := runtime.do(t, getNext)
	if response.Header.Get("Lambda-Runtime-Aws-Request-Id") != "handled" || string(event) != `{"skip":false}` {
		t.Fatalf("the runtime got %q", event)
	}
	answered := api.result(t)
	if answered.id != "skipped" || !bytes.Contains(answered.body, []byte(`"statusCode":500`)) {
		t.Fatalf("answered %+v", answered)
	}
	if !strings.Contains(answered.logged, `"request_id":"skipped"`) {
		t.Errorf("reported only after it was posted: %q", answered.logged)
	}
	if !strings.Contains(p.emf.String(), `"prevent_execution":true`) {
		t.Errorf("telemetry %s", p.emf.String())
	}
}

func TestLatencyAndDiskActBeforeTheHandler(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), config(`{"latency":{"ms":300,"rate":1},"disk":{"mb":2,"rate":1}}`))
	runtime := dialRuntime(t, p.proxy.Addr())
	api.events <- fakeEvent{id: "id-3", body: `{}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
	runtime.do(t, getNext)
	if len(*p.sleeps) != 1 || (*p.sleeps)[0] != 300*time.Millisecond {
		t.Fatalf("sleeps %v", *p.sleeps)
	}
	fill := filepath.Join(p.dir, diskFillName)
	info, err := os.Stat(fill)
	if err != nil || info.Size() != 2*megabyte {
		t.Fatalf("fill while the handler runs: %v %v", info, err)
	}
	runtime.do(t, post("id-3", "response", `{}`))
	api.result(t)
	if _, err := os.Stat(fill); !os.IsNotExist(err) {
		t.Fatalf("fill left after the response: %v", err)
	}
	for _, want := range []string{`"FaultType":"latency"`, `"latency_ms":300`, `"FaultType":"disk"`, `"filled_mb":2`} {
		if !strings.Contains(p.emf.String(), want) {
			t.Errorf("telemetry lacks %s: %s", want, p.emf.String())
		}
	}
}

func TestStreamedResponseIsRelayedUntouched(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), config(`{"error":{"rate":1}}`))
	runtime := dialRuntime(t, p.proxy.Addr())
	api.events <- fakeEvent{id: "id-4", body: `{}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
	runtime.do(t, getNext)
	stream := "POST " + invocationPrefix + "id-4/response HTTP/1.1\r\nHost: x\r\n" +
		"Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: Lambda-Runtime-Function-Error-Type\r\n\r\n" +
		"5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: Broke\r\n\r\n"
	answer, _ := runtime.do(t, stream)
	result := api.result(t)
	if answer.StatusCode != 202 || string(result.body) != "hello world" || result.mode != "streaming" ||
		!result.chunked || result.trailer.Get("Lambda-Runtime-Function-Error-Type") != "Broke" {
		t.Fatalf("streamed %+v", result)
	}
	if strings.Contains(p.emf.String(), metricInjected) || !strings.Contains(p.logs.String(), "relayed untouched") {
		t.Fatalf("emf %q logs %q", p.emf.String(), p.logs.String())
	}
}

func TestConcurrentInvocationsKeepTheirOwnDecisions(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), config(`{"error":{"rate":1,"match":[{"path":"fault","equals":true}]}}`))
	first, second := dialRuntime(t, p.proxy.Addr()), dialRuntime(t, p.proxy.Addr())
	for _, r := range []*runtimeConn{first, second} {
		if _, err := io.WriteString(r.conn, getNext); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute).UnixMilli()
	// both wait in /next at once before any invocation arrives
	for start := time.Now(); !strings.Contains(p.logs.String(), "at once"); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no concurrency line: %q", p.logs.String())
		}
	}
	api.events <- fakeEvent{id: "a", body: `{"fault":true}`, deadline: deadline}
	api.events <- fakeEvent{id: "b", body: `{"fault":false}`, deadline: deadline}
	ids := map[string]*runtimeConn{}
	for _, r := range []*runtimeConn{first, second} {
		response, _ := r.read(t)
		ids[response.Header.Get("Lambda-Runtime-Aws-Request-Id")] = r
	}
	ids["b"].do(t, post("b", "response", `"own b"`))
	ids["a"].do(t, post("a", "response", `"own a"`))
	got := map[string]string{}
	for range 2 {
		result := api.result(t)
		got[result.id] = string(result.body)
	}
	if got["b"] != `"own b"` || !strings.Contains(got["a"], `"statusCode":503`) {
		t.Fatalf("results %v", got)
	}
}

func TestRestoreNextReseedsTheDraws(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), config(`{"error":{"rate":0.5}}`))
	runtime := dialRuntime(t, p.proxy.Addr())
	before := p.proxy.random.Seeds()
	response, _ := runtime.do(t, "GET "+restoreNextPath+" HTTP/1.1\r\nHost: x\r\n\r\n")
	if response.StatusCode != 200 || p.proxy.random.Seeds() != before+1 || api.restores != 1 {
		t.Fatalf("status %d seeds %d -> %d", response.StatusCode, before, p.proxy.random.Seeds())
	}
}

func TestUnreachableRuntimeAPIAnswers502AtOnce(t *testing.T) {
	listener, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := listener.Addr().String()
	listener.Close()
	p := startProxy(t, closed, config(`{"error":{"rate":1}}`))
	runtime := dialRuntime(t, p.proxy.Addr())
	response, body := runtime.do(t, getNext)
	if response.StatusCode != 502 || !bytes.Contains(body, []byte("GamedayChaos.ProxyError")) {
		t.Fatalf("%d %s", response.StatusCode, body)
	}
}

func TestExpectContinueIsAnsweredByTheProxy(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), "")
	runtime := dialRuntime(t, p.proxy.Addr())
	api.events <- fakeEvent{id: "id-5", body: `{}`, deadline: time.Now().Add(time.Minute).UnixMilli()}
	runtime.do(t, getNext)
	interim, _ := runtime.do(t, "POST "+invocationPrefix+"id-5/response HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	if interim.StatusCode != 100 {
		t.Fatalf("interim %d", interim.StatusCode)
	}
	_, _ = io.WriteString(runtime.conn, "done")
	final, _ := runtime.read(t)
	if result := api.result(t); final.StatusCode != 202 || string(result.body) != "done" {
		t.Fatalf("%d %+v", final.StatusCode, result)
	}
}

func TestAnEventThatIsNotJSONPassesThroughWithOneLogLine(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), config(`{"error":{"rate":1,"match":[{"path":"a","exists":false}]}}`))
	runtime := dialRuntime(t, p.proxy.Addr())
	for _, id := range []string{"x1", "x2"} {
		api.events <- fakeEvent{id: id, body: `not json {`, deadline: time.Now().Add(time.Minute).UnixMilli()}
		_, event := runtime.do(t, getNext)
		runtime.do(t, post(id, "response", `"fine"`))
		if result := api.result(t); string(event) != "not json {" || string(result.body) != `"fine"` {
			t.Fatalf("%q %+v", event, result)
		}
	}
	if strings.Count(p.logs.String(), "not JSON") != 1 {
		t.Fatalf("logs %q", p.logs.String())
	}
}

func TestHealthAnswersTheUpstream(t *testing.T) {
	api := newFakeAPI(t)
	p := startProxy(t, api.addr(), "")
	response, body := dialRuntime(t, p.proxy.Addr()).do(t, "GET "+healthPath+" HTTP/1.1\r\nHost: x\r\n\r\n")
	if response.StatusCode != 200 || !bytes.Contains(body, []byte(api.addr())) {
		t.Fatalf("%d %s", response.StatusCode, body)
	}
}
