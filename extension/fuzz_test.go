package main

import "testing"

// Malformed configs and events never panic: a config is refused with an error, an event
// is decided on (and matches no condition when it cannot be read). `go test` runs the seeds;
// `go test -fuzz=FuzzConfigAndEvent` explores further.
func FuzzConfigAndEvent(f *testing.F) {
	seeds := []struct{ config, event string }{
		{`{"version":2,"run_id":"r","expires_at":4e9,"faults":{"error":{"rate":1,"match":[{"path":"a.0.b","regex":"^x"}]}}}`, `{"a":[{"b":"xy"}]}`},
		{`{"version":2,"run_id":"r","expires_at":4e9,"faults":{"corruption":{"rate":1}}}`, `[]`},
		{`{"version":2,"run_id":"r","expires_at":4e9,"faults":{"latency":{"ms":1e300,"rate":1}}}`, `null`},
		{`{"version":2,"run_id":"r","expires_at":4e9,"faults":{"disk":{"mb":1,"rate":1,"match":[{"path":"headers.H","exists":false}]}}}`, `{"headers":"not an object"}`},
		{`{"faults":{"error":{"match":[{}]}}}`, `{`},
		{`{"version":2,"run_id":"r","expires_at":4e9,"faults":{"error":{"rate":1,"match":[{"path":".","equals":[]}]}}}`, "\x00\xff"},
		{``, ``},
	}
	for _, seed := range seeds {
		f.Add(seed.config, seed.event)
	}
	f.Fuzz(func(t *testing.T, configText, eventText string) {
		config, err := ParseConfig(configText)
		if err == nil && config == nil {
			t.Fatal("no config and no error")
		}
		event := NewJSONEvent([]byte(eventText))
		draws := []float64{0, 0.5, 0.999}
		index := 0
		decision := Decide(config, event, func() float64 { index++; return draws[index%len(draws)] }, 1e9)
		if config != nil && decision.Outcome == "corruption" {
			_ = Corrupt([]byte(eventText), config.Corruption)
		}
		if config != nil && decision.Outcome == "error" {
			_ = ErrorResponse(config.Error.StatusCode, ResponseFormat(config.Error.Format, event), multiValueALB(event), config.RunID)
		}
	})
}
