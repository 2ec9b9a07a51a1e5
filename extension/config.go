package main

// The fault configuration: the JSON document the toolkit writes into the function's
// GAMEDAY_CHAOS_CONFIG (extension/gameday_chaos/config.py writes it, schema/config.schema.json
// describes it, schema/vectors/config.json holds the cases both sides must agree on).
// Every error names the offending field, as the Python validator does.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const (
	configEnvKey   = "GAMEDAY_CHAOS_CONFIG"
	disableEnvKey  = "GAMEDAY_CHAOS_DISABLE"
	portEnvKey     = "GAMEDAY_CHAOS_PORT"
	diskDirEnvKey  = "GAMEDAY_CHAOS_DISK_DIR"
	defaultPort    = 9140
	defaultDiskDir = "/tmp"

	schemaVersion    = 2
	maxRunIDLength   = 128
	maxLatencyMs     = 900_000 // Lambda's own maximum timeout (15 min)
	maxDiskMB        = 10_240  // Lambda's maximum ephemeral storage (10 GB)
	maxConditions    = 8
	maxPathLength    = 256
	maxValueLength   = 256
	maxBodyLength    = 1024
	defaultErrorCode = 503
)

// Outcome modes replace the invocation's result, so at most one fires per invocation:
// one draw is split by their rates, in this order (which the decision vectors pin).
var outcomeModes = []string{"timeout", "exception", "error", "corruption"}

// faultModes lists every mode a config may set, in the order their draws are taken.
var faultModes = []string{"latency", "disk", "timeout", "exception", "error", "corruption"}

// Response formats of an injected error.
const (
	formatAuto        = "auto"
	formatRestAPI     = "api-gateway-rest"
	formatHTTPAPI     = "api-gateway-http"
	formatALB         = "alb"
	formatFunctionURL = "function-url"
)

var errorFormats = []string{formatAuto, formatRestAPI, formatHTTPAPI, formatALB, formatFunctionURL}

const (
	corruptMangle  = "mangle"
	corruptReplace = "replace"
)

// ConfigError is an invalid configuration; its message names the field.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, args...)}
}

// Condition is one match condition on an event field; a mode's conditions must all hold.
type Condition struct {
	Path   string
	steps  []string
	Op     string // equals | prefix | regex | exists
	Equals any    // string, float64, bool or nil
	Text   string // prefix or regex source
	re     *regexp.Regexp
	Exists bool
}

type LatencyFault struct {
	Ms, JitterMs int
	Rate         float64
	Match        []Condition
}

type ErrorFault struct {
	StatusCode       int
	Rate             float64
	Format           string
	PreventExecution bool
	Match            []Condition
}

type ExceptionFault struct {
	Rate             float64
	PreventExecution bool
	Match            []Condition
}

type TimeoutFault struct {
	Rate  float64
	Match []Condition
}

type CorruptionFault struct {
	Rate  float64
	Mode  string
	Body  string
	Match []Condition
}

type DiskFault struct {
	MB    int
	Rate  float64
	Match []Condition
}

// Config is a parsed, validated configuration.
type Config struct {
	Version    int
	RunID      string
	ExpiresAt  float64 // epoch seconds; from then on nothing is injected
	Latency    *LatencyFault
	Error      *ErrorFault
	Exception  *ExceptionFault
	Timeout    *TimeoutFault
	Corruption *CorruptionFault
	Disk       *DiskFault
}

// Active reports whether the config may still inject at `now` (epoch seconds).
func (c *Config) Active(now float64) bool { return now < c.ExpiresAt }

// ParseConfig parses and validates the document of GAMEDAY_CHAOS_CONFIG.
func ParseConfig(text string) (*Config, error) {
	if strings.TrimSpace(text) == "" {
		return nil, configErrorf("%s is empty", configEnvKey)
	}
	decoder := json.NewDecoder(strings.NewReader(text))
	decoder.UseNumber()
	var document any
	if err := decoder.Decode(&document); err != nil {
		return nil, configErrorf("%s is not valid JSON: %v", configEnvKey, err)
	}
	if decoder.More() {
		return nil, configErrorf("%s is not valid JSON: data after the document", configEnvKey)
	}
	object, ok := document.(map[string]any)
	if !ok {
		return nil, configErrorf("%s must be a JSON object", configEnvKey)
	}
	if err := onlyKeys("", object, "version", "run_id", "expires_at", "faults"); err != nil {
		return nil, err
	}
	for _, key := range []string{"version", "run_id", "expires_at", "faults"} {
		if _, present := object[key]; !present {
			return nil, configErrorf("%s is required", key)
		}
	}
	return buildConfig(object)
}

func buildConfig(object map[string]any) (*Config, error) {
	version, ok := integer(object["version"])
	if !ok || (version != 1 && version != 2) {
		return nil, configErrorf("version must be 1 or 2, got %s", show(object["version"]))
	}
	runID, ok := object["run_id"].(string)
	if !ok || strings.TrimSpace(runID) == "" {
		return nil, configErrorf("run_id must be a non-empty string")
	}
	if len(runID) > maxRunIDLength || !printableASCII(runID) {
		return nil, configErrorf("run_id must be at most %d printable ASCII characters, got %q",
			maxRunIDLength, runID)
	}
	expires, ok := number(object["expires_at"])
	if !ok || math.IsInf(expires, 0) || expires <= 0 {
		return nil, configErrorf("expires_at must be epoch seconds (a positive number), got %s",
			show(object["expires_at"]))
	}
	faults, ok := object["faults"].(map[string]any)
	if !ok {
		return nil, configErrorf("faults must be an object mapping fault type to its settings")
	}
	known := faultModes
	if version == 1 {
		known = []string{"latency", "error", "exception", "timeout"}
	}
	if len(faults) == 0 {
		return nil, configErrorf("faults must configure at least one of %s", strings.Join(sorted(known), ", "))
	}
	var unknown []string
	for name := range faults {
		if !contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, configErrorf("unknown fault type(s) %s (known in version %d: %s)",
			strings.Join(sorted(unknown), ", "), version, strings.Join(sorted(known), ", "))
	}
	config := &Config{Version: version, RunID: runID, ExpiresAt: expires}
	for _, name := range faultModes {
		raw, present := faults[name]
		if !present {
			continue
		}
		spec, ok := raw.(map[string]any)
		if !ok {
			return nil, configErrorf("faults.%s must be an object, got %s", name, show(raw))
		}
		if err := config.setMode(name, spec, version); err != nil {
			return nil, err
		}
	}
	total := 0.0
	for _, rate := range config.outcomeRates() {
		total += rate
	}
	if total > 1.0+1e-9 {
		return nil, configErrorf("%s replace the function's outcome, so at most one fires per "+
			"invocation: their rates must add up to at most 1, got %s",
			strings.Join(outcomeModes, ", "), strconv.FormatFloat(total, 'g', -1, 64))
	}
	return config, nil
}

func (c *Config) outcomeRates() []float64 {
	var rates []float64
	if c.Timeout != nil {
		rates = append(rates, c.Timeout.Rate)
	}
	if c.Exception != nil {
		rates = append(rates, c.Exception.Rate)
	}
	if c.Error != nil {
		rates = append(rates, c.Error.Rate)
	}
	if c.Corruption != nil {
		rates = append(rates, c.Corruption.Rate)
	}
	return rates
}

// modeFields lists the fields each mode allows; version 1 documents allow only the first ones.
var modeFields = map[string][]string{
	"latency":    {"ms", "jitter_ms", "rate", "match"},
	"error":      {"status_code", "rate", "format", "prevent_execution", "match"},
	"exception":  {"rate", "prevent_execution", "match"},
	"timeout":    {"rate", "match"},
	"corruption": {"rate", "mode", "body", "match"},
	"disk":       {"mb", "rate", "match"},
}

var v1Fields = map[string][]string{
	"latency":   {"ms", "jitter_ms", "rate"},
	"error":     {"status_code", "rate"},
	"exception": {"rate"},
	"timeout":   {"rate"},
}

func (c *Config) setMode(name string, spec map[string]any, version int) error {
	allowed := modeFields[name]
	if version == 1 {
		allowed = v1Fields[name]
	}
	if err := onlyKeys("faults."+name, spec, allowed...); err != nil {
		return err
	}
	rate, err := rateOf(name, spec)
	if err != nil {
		return err
	}
	match, err := parseMatch("faults."+name+".match", spec["match"])
	if err != nil {
		return err
	}
	switch name {
	case "latency":
		if _, present := spec["ms"]; !present {
			return configErrorf("faults.latency.ms is required (added latency in milliseconds)")
		}
		ms, err := intField("faults.latency.ms", spec["ms"], 0, maxLatencyMs)
		if err != nil {
			return err
		}
		jitter, err := intField("faults.latency.jitter_ms", valueOr(spec, "jitter_ms", 0), 0, maxLatencyMs)
		if err != nil {
			return err
		}
		c.Latency = &LatencyFault{Ms: ms, JitterMs: jitter, Rate: rate, Match: match}
	case "error":
		code, err := intField("faults.error.status_code", valueOr(spec, "status_code", defaultErrorCode), 400, 599)
		if err != nil {
			return err
		}
		format, err := choice("faults.error.format", valueOr(spec, "format", formatAuto), errorFormats)
		if err != nil {
			return err
		}
		prevent, err := boolField("faults.error.prevent_execution", valueOr(spec, "prevent_execution", false))
		if err != nil {
			return err
		}
		c.Error = &ErrorFault{StatusCode: code, Rate: rate, Format: format, PreventExecution: prevent, Match: match}
	case "exception":
		prevent, err := boolField("faults.exception.prevent_execution", valueOr(spec, "prevent_execution", false))
		if err != nil {
			return err
		}
		c.Exception = &ExceptionFault{Rate: rate, PreventExecution: prevent, Match: match}
	case "timeout":
		c.Timeout = &TimeoutFault{Rate: rate, Match: match}
	case "corruption":
		mode, err := choice("faults.corruption.mode", valueOr(spec, "mode", corruptMangle),
			[]string{corruptMangle, corruptReplace})
		if err != nil {
			return err
		}
		body, hasBody := spec["body"]
		text, isText := body.(string)
		switch {
		case mode == corruptReplace && !hasBody:
			return configErrorf("faults.corruption.body is required with mode replace (the body that replaces the handler's)")
		case mode == corruptMangle && hasBody:
			return configErrorf("faults.corruption.body is only allowed with mode replace")
		case hasBody && (!isText || len(text) > maxBodyLength):
			return configErrorf("faults.corruption.body must be a string of at most %d bytes", maxBodyLength)
		}
		c.Corruption = &CorruptionFault{Rate: rate, Mode: mode, Body: text, Match: match}
	case "disk":
		if _, present := spec["mb"]; !present {
			return configErrorf("faults.disk.mb is required (megabytes of /tmp to fill)")
		}
		mb, err := intField("faults.disk.mb", spec["mb"], 1, maxDiskMB)
		if err != nil {
			return err
		}
		c.Disk = &DiskFault{MB: mb, Rate: rate, Match: match}
	}
	return nil
}

func parseMatch(field string, raw any) ([]Condition, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, configErrorf("%s must be a list of conditions", field)
	}
	if len(list) > maxConditions {
		return nil, configErrorf("%s has %d conditions, at most %d are allowed", field, len(list), maxConditions)
	}
	conditions := make([]Condition, 0, len(list))
	for index, item := range list {
		where := fmt.Sprintf("%s[%d]", field, index)
		object, ok := item.(map[string]any)
		if !ok {
			return nil, configErrorf("%s must be an object like {\"path\": \"httpMethod\", \"equals\": \"POST\"}", where)
		}
		condition, err := parseCondition(where, object)
		if err != nil {
			return nil, err
		}
		conditions = append(conditions, condition)
	}
	return conditions, nil
}

var conditionOperators = []string{"equals", "prefix", "regex", "exists"}

func parseCondition(where string, object map[string]any) (Condition, error) {
	if err := onlyKeys(where, object, "path", "equals", "prefix", "regex", "exists"); err != nil {
		return Condition{}, err
	}
	path, ok := object["path"].(string)
	if !ok || path == "" || len(path) > maxPathLength {
		return Condition{}, configErrorf("%s.path must be a dotted path of 1 to %d characters (e.g. requestContext.http.method)", where, maxPathLength)
	}
	steps := strings.Split(path, ".")
	for _, step := range steps {
		if step == "" {
			return Condition{}, configErrorf("%s.path has an empty segment: %q", where, path)
		}
	}
	var ops []string
	for _, op := range conditionOperators {
		if _, present := object[op]; present {
			ops = append(ops, op)
		}
	}
	if len(ops) != 1 {
		return Condition{}, configErrorf("%s needs exactly one of equals, prefix, regex, exists", where)
	}
	condition := Condition{Path: path, steps: steps, Op: ops[0]}
	value := object[ops[0]]
	switch ops[0] {
	case "equals":
		switch typed := value.(type) {
		case string:
			if len(typed) > maxValueLength {
				return Condition{}, configErrorf("%s.equals is longer than %d characters", where, maxValueLength)
			}
			condition.Equals = typed
		case json.Number:
			number, err := typed.Float64()
			if err != nil || math.IsInf(number, 0) {
				return Condition{}, configErrorf("%s.equals is not a finite number", where)
			}
			condition.Equals = number
		case bool, nil:
			condition.Equals = typed
		default:
			return Condition{}, configErrorf("%s.equals must be a string, number, boolean or null", where)
		}
	case "prefix", "regex":
		text, ok := value.(string)
		if !ok || len(text) > maxValueLength || (ops[0] == "regex" && text == "") {
			return Condition{}, configErrorf("%s.%s must be a string of at most %d characters", where, ops[0], maxValueLength)
		}
		condition.Text = text
		if ops[0] == "regex" {
			if problem := unportableRegex(text); problem != "" {
				return Condition{}, configErrorf("%s.regex uses %s, which the extension's RE2 engine does not support", where, problem)
			}
			compiled, err := regexp.Compile(text)
			if err != nil {
				return Condition{}, configErrorf("%s.regex is not a valid RE2 expression: %v", where, err)
			}
			condition.re = compiled
		}
	case "exists":
		flag, ok := value.(bool)
		if !ok {
			return Condition{}, configErrorf("%s.exists must be true or false", where)
		}
		condition.Exists = flag
	}
	return condition, nil
}

// unportableRegex names a construct the Python validator refuses too, so both sides accept
// exactly the same expressions (Python's re accepts these, RE2 does not, or the reverse).
func unportableRegex(text string) string {
	for _, construct := range []struct{ token, name string }{
		{"(?=", "a lookahead"}, {"(?!", "a negative lookahead"}, {"(?<=", "a lookbehind"},
		{"(?<!", "a negative lookbehind"}, {"(?>", "an atomic group"}, {"(?(", "a conditional"},
		{"(?P=", "a named backreference"}, {"(?<", "a (?<name>) group (write (?P<name>...))"},
		{`\Z`, `\Z`}, {`\z`, `\z`}, {"*+", "a possessive quantifier"}, {"++", "a possessive quantifier"},
		{"?+", "a possessive quantifier"}, {"}+", "a possessive quantifier"},
	} {
		if strings.Contains(text, construct.token) {
			return construct.name
		}
	}
	for index := 0; index+1 < len(text); index++ {
		if text[index] == '\\' {
			next := text[index+1]
			if next >= '1' && next <= '9' {
				return "a backreference"
			}
			index++ // skip the escaped character (e.g. \\ then 1)
		}
	}
	return ""
}

// -- small field readers ----------------------------------------------------------------

func onlyKeys(where string, object map[string]any, allowed ...string) error {
	var unknown []string
	for key := range object {
		if !contains(allowed, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	if where == "" {
		return configErrorf("unknown top-level field(s) %s", strings.Join(sorted(unknown), ", "))
	}
	return configErrorf("%s: unknown field(s) %s (allowed: %s)", where,
		strings.Join(sorted(unknown), ", "), strings.Join(allowed, ", "))
}

func rateOf(name string, spec map[string]any) (float64, error) {
	raw, present := spec["rate"]
	if !present {
		return 0, configErrorf("faults.%s.rate is required (probability per invocation, 0..1)", name)
	}
	rate, ok := number(raw)
	if !ok || rate < 0 || rate > 1 {
		return 0, configErrorf("faults.%s.rate must be a number from 0 to 1, got %s", name, show(raw))
	}
	return rate, nil
}

func intField(field string, raw any, low, high int) (int, error) {
	value, ok := integer(raw)
	if !ok || value < low || value > high {
		return 0, configErrorf("%s must be an integer from %d to %d, got %s", field, low, high, show(raw))
	}
	return value, nil
}

func boolField(field string, raw any) (bool, error) {
	value, ok := raw.(bool)
	if !ok {
		return false, configErrorf("%s must be true or false, got %s", field, show(raw))
	}
	return value, nil
}

func choice(field string, raw any, allowed []string) (string, error) {
	value, ok := raw.(string)
	if !ok || !contains(allowed, value) {
		return "", configErrorf("%s must be one of %s, got %s", field, strings.Join(allowed, ", "), show(raw))
	}
	return value, nil
}

func valueOr(spec map[string]any, key string, fallback any) any {
	if value, present := spec[key]; present {
		return value
	}
	return fallback
}

// number accepts JSON numbers (json.Number) and Go numbers; never booleans.
func number(raw any) (float64, bool) {
	switch typed := raw.(type) {
	case json.Number:
		value, err := typed.Float64()
		return value, err == nil && !math.IsNaN(value)
	case float64:
		return typed, !math.IsNaN(typed)
	case int:
		return float64(typed), true
	}
	return 0, false
}

// integer accepts integral numbers, 300 and 300.0 alike (Python's validator does too).
func integer(raw any) (int, bool) {
	value, ok := number(raw)
	if !ok || math.IsInf(value, 0) || value != math.Trunc(value) || math.Abs(value) > 1e15 {
		return 0, false
	}
	return int(value), true
}

func show(raw any) string {
	if raw == nil {
		return "null"
	}
	var buffer bytes.Buffer
	encoder := json.NewEncoder(&buffer)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(raw); err != nil {
		return fmt.Sprint(raw)
	}
	return strings.TrimSpace(buffer.String())
}

func printableASCII(text string) bool {
	for index := 0; index < len(text); index++ {
		if text[index] < 0x20 || text[index] > 0x7e {
			return false
		}
	}
	return true
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

// Normalized is the faults object with every default filled in: what the toolkit's
// dump_config writes and what parse_config(...).faults() returns on the Python side.
func (c *Config) Normalized() map[string]any {
	out := map[string]any{}
	withMatch := func(fields map[string]any, match []Condition) map[string]any {
		if len(match) > 0 {
			list := make([]any, len(match))
			for index, condition := range match {
				item := map[string]any{"path": condition.Path}
				switch condition.Op {
				case "equals":
					item["equals"] = condition.Equals
				case "prefix", "regex":
					item[condition.Op] = condition.Text
				case "exists":
					item["exists"] = condition.Exists
				}
				list[index] = item
			}
			fields["match"] = list
		}
		return fields
	}
	if f := c.Latency; f != nil {
		out["latency"] = withMatch(map[string]any{"ms": f.Ms, "jitter_ms": f.JitterMs, "rate": f.Rate}, f.Match)
	}
	if f := c.Error; f != nil {
		out["error"] = withMatch(map[string]any{"status_code": f.StatusCode, "rate": f.Rate,
			"format": f.Format, "prevent_execution": f.PreventExecution}, f.Match)
	}
	if f := c.Exception; f != nil {
		out["exception"] = withMatch(map[string]any{"rate": f.Rate, "prevent_execution": f.PreventExecution}, f.Match)
	}
	if f := c.Timeout; f != nil {
		out["timeout"] = withMatch(map[string]any{"rate": f.Rate}, f.Match)
	}
	if f := c.Corruption; f != nil {
		fields := map[string]any{"rate": f.Rate, "mode": f.Mode}
		if f.Mode == corruptReplace {
			fields["body"] = f.Body
		}
		out["corruption"] = withMatch(fields, f.Match)
	}
	if f := c.Disk; f != nil {
		out["disk"] = withMatch(map[string]any{"mb": f.MB, "rate": f.Rate}, f.Match)
	}
	return out
}
