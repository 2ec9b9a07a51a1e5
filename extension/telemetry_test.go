package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEMFLinesKeepTheirNamesAndDimensions(t *testing.T) {
	var out bytes.Buffer
	clock := func() time.Time { return time.UnixMilli(1767225600123) }
	telemetry := NewTelemetry(&out, "orders", clock)
	telemetry.Injected("error", "r-1", "req-1", Field{"status_code", 503})
	telemetry.Init("r-1")
	telemetry.FailOpen("r-1", "nothing listens")
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for index, test := range []struct {
		metric     string
		dimensions []any
		fields     map[string]any
	}{
		{metricInjected, []any{"FunctionName", "FaultType"}, map[string]any{"FaultType": "error", "InjectedFaults": 1.0, "request_id": "req-1", "status_code": 503.0}},
		{metricInits, []any{"FunctionName"}, map[string]any{"ExtensionInits": 1.0}},
		{metricFailOpen, []any{"FunctionName"}, map[string]any{"ExtensionFailOpen": 1.0, "reason": "nothing listens"}},
	} {
		var document map[string]any
		if err := json.Unmarshal(lines[index], &document); err != nil {
			t.Fatal(err)
		}
		aws := document["_aws"].(map[string]any)
		directive := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if aws["Timestamp"] != 1767225600123.0 || directive["Namespace"] != "Chaos" ||
			directive["Metrics"].([]any)[0].(map[string]any)["Name"] != test.metric {
			t.Errorf("line %d: %s", index, lines[index])
		}
		if got := directive["Dimensions"].([]any)[0].([]any); len(got) != len(test.dimensions) || got[0] != test.dimensions[0] {
			t.Errorf("dimensions %v", got)
		}
		if document["FunctionName"] != "orders" || document["run_id"] != "r-1" {
			t.Errorf("line %d: %v", index, document)
		}
		for key, want := range test.fields {
			if document[key] != want {
				t.Errorf("%s: %v, want %v", key, document[key], want)
			}
		}
	}
}
