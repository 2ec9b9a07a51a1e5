package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func loadJSON(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// sameJSON compares two values as JSON (numbers as numbers, whatever their Go type).
func sameJSON(t *testing.T, got, want any) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(compactJSON(got), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(compactJSON(want), &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}

func TestConfigVectors(t *testing.T) {
	var vectors struct {
		Valid []struct {
			Name       string         `json:"name"`
			Config     string         `json:"config"`
			Normalized map[string]any `json:"normalized"`
		} `json:"valid"`
		Legacy []struct {
			Name       string          `json:"name"`
			Document   json.RawMessage `json:"document"`
			Normalized map[string]any  `json:"normalized"`
		} `json:"legacy_v1"`
		Invalid []struct {
			Name       string          `json:"name"`
			Document   json.RawMessage `json:"document"`
			Text       *string         `json:"text"`
			ErrorField string          `json:"error_field"`
		} `json:"invalid"`
	}
	loadJSON(t, "schema/vectors/config.json", &vectors)
	if len(vectors.Valid) == 0 || len(vectors.Invalid) == 0 || len(vectors.Legacy) == 0 {
		t.Fatal("config vectors are missing")
	}
	for _, v := range vectors.Valid {
		config, err := ParseConfig(v.Config)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if !sameJSON(t, config.Normalized(), v.Normalized) {
			t.Errorf("%s: normalized %s, want %s", v.Name, compactJSON(config.Normalized()), compactJSON(v.Normalized))
		}
	}
	for _, v := range vectors.Legacy {
		config, err := ParseConfig(string(v.Document))
		if err != nil || config.Version != 1 || !sameJSON(t, config.Normalized(), v.Normalized) {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
	for _, v := range vectors.Invalid {
		text := string(v.Document)
		if v.Text != nil {
			text = *v.Text
		}
		_, err := ParseConfig(text)
		if err == nil {
			t.Errorf("%s: accepted", v.Name)
			continue
		}
		if !strings.Contains(err.Error(), v.ErrorField) {
			t.Errorf("%s: error %q does not name %q", v.Name, err, v.ErrorField)
		}
	}
}

func TestDecisionVectors(t *testing.T) {
	var vectors struct {
		Cases []struct {
			VectorCase
			Expect map[string]any `json:"expect"`
		} `json:"cases"`
	}
	loadJSON(t, "schema/vectors/decisions.json", &vectors)
	if len(vectors.Cases) < 20 {
		t.Fatalf("only %d decision vectors", len(vectors.Cases))
	}
	for _, v := range vectors.Cases {
		got, err := EvaluateVector(v.VectorCase)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !sameJSON(t, got, v.Expect) {
			t.Errorf("%s:\n got  %s\n want %s", v.Name, compactJSON(got), compactJSON(v.Expect))
		}
	}
}

func TestVectorsCommandAnswersEachCase(t *testing.T) {
	input := `[{"name":"a","config":{"version":2,"run_id":"r","expires_at":2e9,"faults":{"latency":{"ms":5,"rate":1}}},"draws":[0.1],"now":1e9},
	           {"name":"b","config":{"version":9},"draws":[],"now":1e9}]`
	var out strings.Builder
	if err := runVectors(strings.NewReader(input), &out); err != nil {
		t.Fatal(err)
	}
	var results []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &results); err != nil || len(results) != 2 {
		t.Fatalf("%v %q", err, out.String())
	}
	if results[0]["latency_ms"] != 5.0 || results[1]["error"] == nil {
		t.Errorf("results %v", results)
	}
}
