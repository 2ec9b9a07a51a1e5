package main

// The Runtime API proxy: the runtime talks to it (the wrapper points AWS_LAMBDA_RUNTIME_API
// here) and it talks to Lambda's Runtime API ("Using the Lambda runtime API for custom
// runtimes", https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//
// One goroutine per runtime connection, each with its own keep-alive connection to the
// Runtime API, so concurrent invocations in one environment (Lambda Managed Instances)
// are handled side by side, each with its own decision. Messages are relayed as received;
// small ones go out in one write (TCP_NODELAY is Go's default), so the relay adds no
// Nagle or delayed-ACK stall.
//
// Faults are decided when /invocation/next answers: latency and disk act before the event
// reaches the runtime (so before the handler runs), an outcome with prevent_execution is
// answered here and the runtime never sees that event, and the other outcomes are applied
// when the runtime posts that invocation's /response or /error. A streamed response is
// relayed untouched, whatever was drawn for it.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	runtimePrefix    = "/2018-06-01/runtime/"
	nextPath         = "/2018-06-01/runtime/invocation/next"
	invocationPrefix = "/2018-06-01/runtime/invocation/"
	restoreNextPath  = "/2018-06-01/runtime/restore/next"
	healthPath       = "/gameday-chaos/health"

	errorTypeHeader = "Lambda-Runtime-Function-Error-Type"
	// timeoutGrace is how long past the deadline a timeout fault holds the response.
	timeoutGrace = time.Second
	// maxHold bounds a hold when the Runtime API gave no deadline (Lambda's maximum timeout).
	maxHold             = 900 * time.Second
	maxPendingDecisions = 1024
	// bodies up to this size are buffered and sent with their head in one write
	smallBody = 1 << 20
)

// pendingInvocation is what /next decided for an invocation the runtime now handles.
type pendingInvocation struct {
	decision   Decision
	deadlineMs int64
	format     string
	multiValue bool
	diskHeld   bool
}

// Proxy relays the Runtime API and applies the config's faults.
type Proxy struct {
	upstream  string
	config    *Config // nil: pure pass-through
	telemetry *Telemetry
	log       *Logger
	random    *Random
	disk      *DiskFiller
	now       func() time.Time
	sleep     func(time.Duration)

	listener net.Listener
	closed   atomic.Bool

	mu      sync.Mutex
	pending map[string]pendingInvocation
	order   []string

	inflight      atomic.Int32
	toldParallel  atomic.Bool
	toldUnparsed  atomic.Bool
	healthPayload []byte
}

// NewProxy builds a proxy to `upstream` (host:port of the real Runtime API).
func NewProxy(upstream string, config *Config, telemetry *Telemetry, log *Logger,
	random *Random, disk *DiskFiller) *Proxy {
	health := compactJSON(map[string]any{"upstream": upstream, "faults": config != nil})
	return &Proxy{
		upstream: upstream, config: config, telemetry: telemetry, log: log, random: random,
		disk: disk, now: time.Now, sleep: time.Sleep, pending: map[string]pendingInvocation{},
		healthPayload: health,
	}
}

// Listen binds the proxy's address (before the extension registers, so the port is taken
// by the time Lambda starts the runtime and its wrapper).
func (p *Proxy) Listen(address string) error {
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	p.listener = listener
	return nil
}

// Addr is the bound address.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Serve accepts runtime connections until Close.
func (p *Proxy) Serve() {
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			if p.closed.Load() {
				return
			}
			p.log.Printf("accept failed: %v", err)
			p.sleep(10 * time.Millisecond)
			continue
		}
		go p.serveConn(conn)
	}
}

// Close stops accepting; connections in flight end with the process.
func (p *Proxy) Close() {
	p.closed.Store(true)
	if p.listener != nil {
		_ = p.listener.Close()
	}
}

// session is one runtime connection and its upstream connection.
type session struct {
	proxy    *Proxy
	runtime  net.Conn
	reader   *bufio.Reader
	up       net.Conn
	upReader *bufio.Reader
	upUsed   bool // the upstream connection carried an exchange before (may be stale)
	headBuf  []byte
	upHead   []byte
	bodyBuf  []byte
	outBuf   []byte
}

func (p *Proxy) serveConn(conn net.Conn) {
	s := &session{proxy: p, runtime: conn, reader: bufio.NewReaderSize(conn, 64<<10)}
	defer func() {
		_ = conn.Close()
		if s.up != nil {
			_ = s.up.Close()
		}
	}()
	for {
		msg, err := readHead(s.reader, s.headBuf, false)
		if err != nil {
			// a runtime that closes or is killed between requests is no news
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !p.closed.Load() {
				p.log.Printf("runtime connection ended: %v", err)
			}
			return
		}
		s.headBuf = msg.head
		keep, err := s.dispatch(&msg)
		if err != nil {
			if !p.closed.Load() {
				p.log.Printf("runtime connection ended: %v", err)
			}
			return
		}
		if !keep || !msg.keepAlive {
			return
		}
	}
}

func (s *session) dispatch(msg *message) (bool, error) {
	target := msg.target
	if query := bytes.IndexByte(target, '?'); query >= 0 {
		target = target[:query]
	}
	get := bytes.Equal(msg.method, []byte("GET"))
	switch {
	case get && bytes.Equal(target, []byte(nextPath)):
		return s.next(msg)
	case bytes.Equal(msg.method, []byte("POST")) && bytes.HasPrefix(target, []byte(invocationPrefix)):
		rest := target[len(invocationPrefix):]
		if slash := bytes.LastIndexByte(rest, '/'); slash > 0 {
			action := string(rest[slash+1:])
			if action == "response" || action == "error" {
				return s.result(msg, string(rest[:slash]), action)
			}
		}
	case get && bytes.Equal(target, []byte(healthPath)):
		return true, s.writeRuntime(simpleResponse(200, "OK", s.proxy.healthPayload, false))
	case get && bytes.Equal(target, []byte(restoreNextPath)):
		keep, status, err := s.forward(msg)
		if err == nil && status == 200 {
			s.proxy.random.Reseed()
			s.proxy.log.Printf("restored from a SnapStart snapshot: fault draws re-seeded")
		}
		return keep, err
	}
	keep, _, err := s.forward(msg)
	return keep, err
}

// -- upstream ---------------------------------------------------------------------------

func (s *session) dialUpstream() error {
	if s.up != nil {
		_ = s.up.Close()
	}
	conn, err := net.DialTimeout("tcp", s.proxy.upstream, 2*time.Second)
	if err != nil {
		s.up = nil
		return err
	}
	s.up, s.upUsed = conn, false
	if s.upReader == nil {
		s.upReader = bufio.NewReaderSize(conn, 64<<10)
	} else {
		s.upReader.Reset(conn)
	}
	return nil
}

// exchange sends a fully buffered request and reads the response head and body (into
// s.upHead and s.bodyBuf). A reused connection the Runtime API had closed is retried once.
func (s *session) exchange(request []byte) (message, []byte, error) {
	for attempt := 0; ; attempt++ {
		if s.up == nil {
			if err := s.dialUpstream(); err != nil {
				return message{}, nil, err
			}
		}
		reused := s.upUsed
		msg, body, err := s.roundTrip(request)
		if err == nil {
			return msg, body, nil
		}
		_ = s.up.Close()
		s.up = nil
		if !reused || attempt > 0 {
			return msg, body, err
		}
	}
}

func (s *session) roundTrip(request []byte) (message, []byte, error) {
	if _, err := s.up.Write(request); err != nil {
		return message{}, nil, err
	}
	return s.readUpstream()
}

// readUpstream reads one response (skipping interim 1xx responses) with its whole body.
func (s *session) readUpstream() (message, []byte, error) {
	for {
		msg, err := readHead(s.upReader, s.upHead, true)
		if err != nil {
			return msg, nil, fmt.Errorf("reading the Runtime API's answer: %w", unexpected(err))
		}
		s.upHead = msg.head
		if msg.status >= 100 && msg.status < 200 {
			continue
		}
		body, err := readBody(s.upReader, &msg, s.bodyBuf[:0])
		if err != nil {
			return msg, nil, err
		}
		s.bodyBuf = body
		s.upUsed = true
		if !msg.keepAlive {
			_ = s.up.Close()
			s.up = nil
		}
		return msg, body, nil
	}
}

// relayFailed answers the runtime 502 at once (it never hangs) and ends the connection.
func (s *session) relayFailed(err error) (bool, error) {
	s.proxy.log.Printf("relay to the Lambda Runtime API at %s failed: %v", s.proxy.upstream, err)
	body := compactJSON(map[string]string{"errorType": "GamedayChaos.ProxyError", "errorMessage": err.Error()})
	_ = s.writeRuntime(simpleResponse(502, "Bad Gateway", body, true))
	return false, nil
}

func (s *session) writeRuntime(data []byte) error {
	_, err := s.runtime.Write(data)
	return err
}

// answer writes an upstream response (head as received, body) to the runtime in one write.
func (s *session) answer(msg message, body []byte) error {
	out := append(s.outBuf[:0], msg.head...)
	out = append(out, body...)
	s.outBuf = out
	if cap(s.outBuf) > 4*smallBody { // do not keep a 6 MB event's buffer for ever
		s.outBuf = nil
	}
	return s.writeRuntime(out)
}

// forward relays a request (any body) and its response unchanged; returns the status.
func (s *session) forward(msg *message) (bool, int, error) {
	head := msg.head
	if msg.expect100 {
		// answer the runtime's Expect ourselves: the body is relayed at once
		if err := s.writeRuntime([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return false, 0, err
		}
		head = withoutHeaders(head, []string{"Expect"})
	}
	var response message
	var body []byte
	var err error
	if !msg.chunked && msg.contentLength <= smallBody {
		request := append([]byte(nil), head...)
		if msg.contentLength > 0 {
			request, err = readBody(s.reader, msg, request)
			if err != nil {
				return false, 0, err
			}
		}
		response, body, err = s.exchange(request)
	} else {
		response, body, err = s.stream(head, msg)
	}
	if err != nil {
		keep, err := s.relayFailed(err)
		return keep, 0, err
	}
	return response.keepAlive, response.status, s.answer(response, body)
}

// stream relays a large or chunked request body piece by piece (response streaming).
func (s *session) stream(head []byte, msg *message) (message, []byte, error) {
	if s.up == nil {
		if err := s.dialUpstream(); err != nil {
			return message{}, nil, err
		}
	}
	if _, err := s.up.Write(head); err != nil {
		return message{}, nil, err
	}
	if err := relayBody(s.reader, msg, s.up); err != nil {
		return message{}, nil, err
	}
	return s.readUpstream()
}

// -- /invocation/next --------------------------------------------------------------------

func (s *session) next(msg *message) (bool, error) {
	p := s.proxy
	if n := p.inflight.Add(1); n > 1 && p.toldParallel.CompareAndSwap(false, true) {
		p.log.Printf("%d runtime connections wait for invocations at once (concurrent "+
			"invocations in one environment): handled, each invocation keeps its own decision", n)
	}
	defer p.inflight.Add(-1)
	request := msg.head
	for {
		response, event, err := s.exchange(request)
		if err != nil {
			return s.relayFailed(err)
		}
		if response.status != 200 || p.config == nil {
			return response.keepAlive, s.answer(response, event)
		}
		requestID := string(response.requestID)
		if !p.act(requestID, response, event, s) {
			return response.keepAlive, s.answer(response, event)
		}
		if !response.keepAlive { // the answered invocation closed the connection
			return false, nil
		}
		// prevent_execution answered this one: fetch the next event for the runtime
	}
}

// act decides the faults of one invocation and applies those that act before the handler.
// It returns true when the invocation was answered here (prevent_execution).
func (p *Proxy) act(requestID string, response message, payload []byte, s *session) bool {
	now := p.now()
	if !p.config.Active(unixSeconds(now)) {
		p.disk.FreeAll() // past expiry nothing stays filled
		return false
	}
	event := NewJSONEvent(payload)
	decision := Decide(p.config, event, p.random.Float64, unixSeconds(now))
	if event.decoded && !event.ok && p.toldUnparsed.CompareAndSwap(false, true) {
		p.log.Printf("invocation %s: the event is not JSON, so no match condition holds for it "+
			"(passed through; later such events are not logged)", requestID)
	}
	if !decision.Injects() {
		return false
	}
	runID := p.config.RunID
	if decision.LatencyMs > 0 {
		p.telemetry.Injected("latency", runID, requestID, Field{"latency_ms", round3(decision.LatencyMs)})
		p.sleep(time.Duration(decision.LatencyMs * float64(time.Millisecond)))
	}
	pending := pendingInvocation{decision: decision, deadlineMs: parseDeadline(response.deadlineMs)}
	if decision.Outcome == "error" {
		pending.format = ResponseFormat(p.config.Error.Format, event)
		pending.multiValue = pending.format == formatALB && multiValueALB(event)
	}
	if decision.DiskMB > 0 {
		filled, err := p.disk.Acquire(decision.DiskMB)
		if err != nil {
			p.log.Printf("invocation %s: disk fault not injected: %v", requestID, err)
		} else {
			pending.diskHeld = true
			p.telemetry.Injected("disk", runID, requestID, Field{"disk_mb", decision.DiskMB},
				Field{"filled_mb", filled})
		}
	}
	if decision.PreventExecution {
		s.answerHere(requestID, pending)
		return true
	}
	if decision.Outcome != "" || pending.diskHeld {
		p.remember(requestID, pending)
	}
	return false
}

// answerHere posts the injected outcome without the runtime ever seeing the event.
func (s *session) answerHere(requestID string, pending pendingInvocation) {
	p := s.proxy
	request, fields := p.outcomeRequest(requestID, pending)
	fields = append(fields, Field{"prevent_execution", true})
	// Reported before it is posted: once Lambda has the result it may shut the
	// environment down, and a line written after that is lost.
	p.telemetry.Injected(pending.decision.Outcome, p.config.RunID, requestID, fields...)
	if _, _, err := s.exchange(request); err != nil {
		p.log.Printf("invocation %s: posting the injected %s failed: %v", requestID, pending.decision.Outcome, err)
	}
}

// outcomeRequest is the POST that replaces the invocation's result with an error outcome.
func (p *Proxy) outcomeRequest(requestID string, pending pendingInvocation) ([]byte, []Field) {
	if pending.decision.Outcome == "exception" {
		path := invocationPrefix + requestID + "/error"
		return postRequest(path, []string{errorTypeHeader + ": " + injectedExceptionType},
			ExceptionBody(p.config.RunID)), nil
	}
	code := p.config.Error.StatusCode
	body := ErrorResponse(code, pending.format, pending.multiValue, p.config.RunID)
	return postRequest(invocationPrefix+requestID+"/response", nil, body),
		[]Field{{"status_code", code}, {"format", pending.format}}
}

func (p *Proxy) remember(requestID string, pending pendingInvocation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, present := p.pending[requestID]; !present {
		p.order = append(p.order, requestID)
	}
	p.pending[requestID] = pending
	for len(p.order) > maxPendingDecisions { // a runtime that never answered: forget the oldest
		oldest := p.order[0]
		p.order = p.order[1:]
		if stale, ok := p.pending[oldest]; ok && stale.diskHeld {
			p.disk.Release()
		}
		delete(p.pending, oldest)
	}
}

func (p *Proxy) take(requestID string) (pendingInvocation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending, ok := p.pending[requestID]
	if ok {
		delete(p.pending, requestID)
		for index, id := range p.order {
			if id == requestID {
				p.order = append(p.order[:index], p.order[index+1:]...)
				break
			}
		}
	}
	return pending, ok
}

// -- /invocation/{id}/response and /error --------------------------------------------------

func (s *session) result(msg *message, requestID, action string) (bool, error) {
	p := s.proxy
	if p.config == nil {
		keep, _, err := s.forward(msg)
		return keep, err
	}
	pending, ok := p.take(requestID)
	if ok && pending.diskHeld {
		p.disk.Release() // the handler is done with /tmp once it posts its result
	}
	outcome := pending.decision.Outcome
	if !ok || outcome == "" || (outcome == "corruption" && action != "response") {
		keep, _, err := s.forward(msg)
		return keep, err
	}
	if msg.streaming() {
		p.log.Printf("invocation %s: streamed response relayed untouched; the %s fault drawn "+
			"for it is not injected", requestID, outcome)
		keep, _, err := s.forward(msg)
		return keep, err
	}
	if msg.expect100 {
		if err := s.writeRuntime([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return false, err
		}
	}
	// the function's own result is read whole: replaced, corrupted, or held (timeout)
	own, err := readBody(s.reader, msg, nil)
	if err != nil {
		return false, err
	}
	var request []byte
	var fields []Field
	switch outcome {
	case "timeout":
		hold := maxHold
		if pending.deadlineMs > 0 {
			hold = time.UnixMilli(pending.deadlineMs).Add(timeoutGrace).Sub(p.now())
		}
		hold = min(max(hold, 0), maxHold)
		p.telemetry.Injected("timeout", p.config.RunID, requestID, Field{"held_ms", hold.Milliseconds()})
		p.sleep(hold)
		request = append(withoutHeaders(msg.head, []string{"Expect"}), own...)
	case "corruption":
		corrupted := Corrupt(own, p.config.Corruption)
		head := withoutHeaders(msg.head, []string{"Expect", "Content-Length"},
			"Content-Length: "+strconv.Itoa(len(corrupted)))
		request = append(head, corrupted...)
		fields = []Field{{"mode", p.config.Corruption.Mode}}
	default: // error or exception
		request, fields = p.outcomeRequest(requestID, pending)
	}
	if outcome != "timeout" {
		// before the post, as in answerHere: after it the environment may be gone
		p.telemetry.Injected(outcome, p.config.RunID, requestID, fields...)
	}
	response, body, err := s.exchange(request)
	if err != nil {
		return s.relayFailed(err)
	}
	return response.keepAlive, s.answer(response, body)
}

func parseDeadline(raw []byte) int64 {
	value, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || value <= 0 {
		return 0
	}
	return value
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

func round3(value float64) float64 {
	return float64(int64(value*1000+0.5)) / 1000
}
