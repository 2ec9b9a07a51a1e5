package main

// CloudWatch Embedded Metric Format lines on stdout (the function's log stream, where
// CloudWatch extracts the metrics: "Specification: Embedded metric format",
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
// and the extension's own log lines on stderr, prefixed [gameday-chaos].
//
// Metrics, namespace Chaos:
//   - InjectedFaults (FunctionName, FaultType): one per injected fault;
//   - ExtensionInits (FunctionName): one per execution environment started with an active
//     config (the cold starts the injection itself caused);
//   - ExtensionFailOpen (FunctionName): the wrapper found no working proxy and handed the
//     runtime the real Runtime API: this environment runs unfaulted.

import (
	"fmt"
	"io"
	"sync"
	"time"
)

const (
	emfNamespace      = "Chaos"
	metricInjected    = "InjectedFaults"
	metricInits       = "ExtensionInits"
	metricFailOpen    = "ExtensionFailOpen"
	logPrefix         = "[gameday-chaos] "
	extensionFileName = "gameday-chaos"
)

// Field is one extra key of an EMF line, kept in order.
type Field struct {
	Key   string
	Value any
}

// Telemetry writes EMF lines (one write each, so lines never interleave).
type Telemetry struct {
	mu       sync.Mutex
	out      io.Writer
	function string
	now      func() time.Time
}

func NewTelemetry(out io.Writer, function string, now func() time.Time) *Telemetry {
	return &Telemetry{out: out, function: function, now: now}
}

// Injected reports one injected fault.
func (t *Telemetry) Injected(faultType, runID, requestID string, extra ...Field) {
	fields := []Field{{"FaultType", faultType}, {metricInjected, 1}, {"run_id", runID},
		{"request_id", requestID}}
	t.write(metricInjected, []string{"FunctionName", "FaultType"}, append(fields, extra...))
}

// Init reports an execution environment started with an active fault config.
func (t *Telemetry) Init(runID string) {
	t.write(metricInits, []string{"FunctionName"}, []Field{{metricInits, 1}, {"run_id", runID}})
}

// FailOpen reports an environment whose runtime talks to Lambda directly.
func (t *Telemetry) FailOpen(runID, reason string) {
	t.write(metricFailOpen, []string{"FunctionName"},
		[]Field{{metricFailOpen, 1}, {"run_id", runID}, {"reason", reason}})
}

// Line renders one EMF document (exported for tests).
func (t *Telemetry) Line(metric string, dimensions []string, fields []Field) []byte {
	line := make([]byte, 0, 320)
	line = append(line, `{"_aws":{"Timestamp":`...)
	line = fmt.Appendf(line, "%d", t.now().UnixMilli())
	line = append(line, `,"CloudWatchMetrics":[{"Namespace":`...)
	line = append(line, compactJSON(emfNamespace)...)
	line = append(line, `,"Dimensions":[`...)
	line = append(line, compactJSON(dimensions)...)
	line = append(line, `],"Metrics":[{"Name":`...)
	line = append(line, compactJSON(metric)...)
	line = append(line, `,"Unit":"Count"}]}]},"FunctionName":`...)
	line = append(line, compactJSON(t.function)...)
	for _, field := range fields {
		line = append(line, ',')
		line = append(line, compactJSON(field.Key)...)
		line = append(line, ':')
		line = append(line, compactJSON(field.Value)...)
	}
	return append(line, "}\n"...)
}

func (t *Telemetry) write(metric string, dimensions []string, fields []Field) {
	line := t.Line(metric, dimensions, fields)
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = t.out.Write(line) // telemetry never breaks an invocation
}

// Logger writes the extension's own lines to stderr.
type Logger struct {
	mu  sync.Mutex
	out io.Writer
}

func (l *Logger) Printf(format string, args ...any) {
	line := logPrefix + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.out, line)
}
