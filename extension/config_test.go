package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

func TestParseConfigReadsEveryModeWithDefaults(t *testing.T) {
	config, err := ParseConfig(`{"version":2,"run_id":"r-1","expires_at":1900000000,"faults":{
		"latency":{"ms":300,"rate":1.0},
		"error":{"rate":0.1,"match":[{"path":"httpMethod","equals":"POST"},{"path":"path","regex":"^/orders"}]},
		"exception":{"rate":0.1,"prevent_execution":true},
		"timeout":{"rate":0.1},
		"corruption":{"rate":0.1},
		"disk":{"mb":64,"rate":0.5}}}`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"latency jitter default", config.Latency.JitterMs, 0},
		{"error status default", config.Error.StatusCode, 503},
		{"error format default", config.Error.Format, "auto"},
		{"error prevent default", config.Error.PreventExecution, false},
		{"error conditions", len(config.Error.Match), 2},
		{"regex compiled", config.Error.Match[1].re != nil, true},
		{"exception prevent", config.Exception.PreventExecution, true},
		{"corruption mode default", config.Corruption.Mode, "mangle"},
		{"disk mb", config.Disk.MB, 64},
		{"version", config.Version, 2},
	}
	for _, test := range tests {
		if test.got != test.want {
			t.Errorf("%s: got %v, want %v", test.name, test.got, test.want)
		}
	}
}

func TestActiveStrictlyBeforeExpiry(t *testing.T) {
	config := &Config{ExpiresAt: 100}
	for _, test := range []struct {
		now  float64
		want bool
	}{{99.999, true}, {100, false}, {101, false}} {
		if got := config.Active(test.now); got != test.want {
			t.Errorf("Active(%v) = %v", test.now, got)
		}
	}
}

func TestUnportableRegex(t *testing.T) {
	for _, test := range []struct{ pattern, problem string }{
		{"^/orders/[0-9]+$", ""},
		{`\\1`, ""}, // an escaped backslash then 1
		{`(a)\1`, "a backreference"},
		{"a(?=b)", "a lookahead"},
		{"(?<n>a)", "a (?<name>) group (write (?P<name>...))"},
		{"(?P<n>a)", ""},
		{"a++", "a possessive quantifier"},
	} {
		if got := unportableRegex(test.pattern); got != test.problem {
			t.Errorf("%q: got %q, want %q", test.pattern, got, test.problem)
		}
	}
}

// The schema's modes and bounds are the ones this parser applies.
func TestSchemaAgreesWithTheParser(t *testing.T) {
	data, err := os.ReadFile("schema/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Faults struct {
				Properties map[string]struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"properties"`
			} `json:"faults"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var modes []string
	for mode, spec := range schema.Properties.Faults.Properties {
		modes = append(modes, mode)
		var fields []string
		for field := range spec.Properties {
			fields = append(fields, field)
		}
		sort.Strings(fields)
		if want := sorted(modeFields[mode]); strings.Join(fields, ",") != strings.Join(want, ",") {
			t.Errorf("%s: schema fields %v, parser fields %v", mode, fields, want)
		}
	}
	sort.Strings(modes)
	if strings.Join(modes, ",") != strings.Join(sorted(faultModes), ",") {
		t.Errorf("schema modes %v, parser modes %v", modes, faultModes)
	}
	for _, bound := range []string{`"maximum": 900000`, `"maximum": 10240`, `"maxItems": 8`, `"maxLength": 1024`} {
		if !strings.Contains(string(data), bound) {
			t.Errorf("schema lacks %s", bound)
		}
	}
}
