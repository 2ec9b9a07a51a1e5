package main

// Golden decision vectors (schema/vectors/decisions.json): config + event + draws + now
// give a decision and the injected payload. `go test` runs them, and the Python tests run
// them through the packaged binary (`gameday-chaos vectors < cases.json`), so the engine
// and the committed bytes answer the same.

import (
	"encoding/json"
	"fmt"
	"io"
)

// VectorCase is one decision vector's input.
type VectorCase struct {
	Name            string          `json:"name"`
	Config          json.RawMessage `json:"config"`
	Event           json.RawMessage `json:"event"`
	EventText       *string         `json:"event_text"`
	Draws           []float64       `json:"draws"`
	Now             float64         `json:"now"`
	HandlerResponse *string         `json:"handler_response"`
}

// EvaluateVector decides one case; the result has the keys of a vector's "expect".
func EvaluateVector(c VectorCase) (map[string]any, error) {
	config, err := ParseConfig(string(c.Config))
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", c.Name, err)
	}
	raw := []byte(c.Event)
	if c.EventText != nil {
		raw = []byte(*c.EventText)
	} else if len(raw) == 0 {
		raw = []byte("{}")
	}
	event := NewJSONEvent(raw)
	used := 0
	var short error
	draw := func() float64 {
		if used >= len(c.Draws) {
			short = fmt.Errorf("%s: needs more than %d draws", c.Name, len(c.Draws))
			return 0.999999
		}
		used++
		return c.Draws[used-1]
	}
	decision := Decide(config, event, draw, c.Now)
	if short != nil {
		return nil, short
	}
	result := map[string]any{
		"latency_ms":        round3(decision.LatencyMs),
		"disk_mb":           decision.DiskMB,
		"outcome":           nil,
		"prevent_execution": decision.PreventExecution,
		"draws_used":        decision.DrawsUsed,
	}
	switch decision.Outcome {
	case "":
	case "error":
		format := ResponseFormat(config.Error.Format, event)
		result["outcome"], result["format"] = "error", format
		result["response"] = string(ErrorResponse(config.Error.StatusCode, format,
			format == formatALB && multiValueALB(event), config.RunID))
	case "exception":
		result["outcome"], result["response"] = "exception", string(ExceptionBody(config.RunID))
	case "corruption":
		if c.HandlerResponse == nil {
			return nil, fmt.Errorf("%s: a corruption vector needs handler_response", c.Name)
		}
		result["outcome"] = "corruption"
		result["response"] = string(Corrupt([]byte(*c.HandlerResponse), config.Corruption))
	default:
		result["outcome"] = decision.Outcome
	}
	return result, nil
}

// runVectors reads a JSON list of cases on stdin and writes the list of results.
func runVectors(in io.Reader, out io.Writer) error {
	var cases []VectorCase
	if err := json.NewDecoder(in).Decode(&cases); err != nil {
		return fmt.Errorf("vectors: stdin is not a JSON list of cases: %w", err)
	}
	results := make([]any, len(cases))
	for index, c := range cases {
		result, err := EvaluateVector(c)
		if err != nil {
			results[index] = map[string]any{"error": err.Error()}
			continue
		}
		results[index] = result
	}
	_, err := out.Write(append(compactJSON(results), '\n'))
	return err
}
