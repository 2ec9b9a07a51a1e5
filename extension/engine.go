package main

// The fault decisions of one invocation, pure: the config, the event, the random draws and
// the clock are arguments, so every decision is reproducible (schema/vectors/decisions.json
// pins them for this engine and the Python toolkit alike).
//
// Draw order (each draw is a number in [0, 1)):
//  1. latency, when its rate > 0 and its match holds: fires when draw < rate; when it
//     fires and jitter_ms > 0 a second draw j sets the delay ms + (2j-1)*jitter_ms (>= 0);
//  2. disk, when its rate > 0 and its match holds: fires when draw < rate;
//  3. the outcome modes (timeout, exception, error, corruption, in that order) whose rate
//     > 0 and whose match holds: one draw, the first mode whose cumulative rate exceeds
//     it fires. Their rates add up to at most 1, so each fires with exactly its rate.
//
// Nothing is drawn or decided once the config has expired (now >= expires_at).

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Event gives the engine the fields of an invocation's event; the proxy parses the event
// lazily, only when a condition or an automatic response format needs it.
type Event interface {
	// Lookup returns the value at the dotted path and whether it is present.
	Lookup(steps []string) (any, bool)
	// Parsed reports whether the event is a JSON value the engine could read.
	Parsed() bool
}

// Decision is what happens to one invocation.
type Decision struct {
	LatencyMs        float64 // delay before the handler runs; 0 = none
	DiskMB           int     // megabytes of /tmp filled while the handler runs; 0 = none
	Outcome          string  // "", timeout, exception, error or corruption
	PreventExecution bool    // the outcome is answered without running the handler
	DrawsUsed        int
}

// Injects reports whether the decision changes anything.
func (d Decision) Injects() bool {
	return d.LatencyMs > 0 || d.DiskMB > 0 || d.Outcome != ""
}

// Decide draws the faults of one invocation.
func Decide(config *Config, event Event, draw func() float64, now float64) Decision {
	var decision Decision
	if config == nil || !config.Active(now) {
		return decision
	}
	take := func() float64 {
		decision.DrawsUsed++
		return draw()
	}
	if f := config.Latency; f != nil && f.Rate > 0 && matches(f.Match, event) && take() < f.Rate {
		delay := float64(f.Ms)
		if f.JitterMs > 0 {
			delay += (take()*2 - 1) * float64(f.JitterMs)
		}
		decision.LatencyMs = math.Max(delay, 0)
	}
	if f := config.Disk; f != nil && f.Rate > 0 && matches(f.Match, event) && take() < f.Rate {
		decision.DiskMB = f.MB
	}
	type candidate struct {
		mode    string
		rate    float64
		prevent bool
	}
	var eligible []candidate
	if f := config.Timeout; f != nil && f.Rate > 0 && matches(f.Match, event) {
		eligible = append(eligible, candidate{"timeout", f.Rate, false})
	}
	if f := config.Exception; f != nil && f.Rate > 0 && matches(f.Match, event) {
		eligible = append(eligible, candidate{"exception", f.Rate, f.PreventExecution})
	}
	if f := config.Error; f != nil && f.Rate > 0 && matches(f.Match, event) {
		eligible = append(eligible, candidate{"error", f.Rate, f.PreventExecution})
	}
	if f := config.Corruption; f != nil && f.Rate > 0 && matches(f.Match, event) {
		eligible = append(eligible, candidate{"corruption", f.Rate, false})
	}
	if len(eligible) > 0 {
		value, cumulative := take(), 0.0
		for _, option := range eligible {
			cumulative += option.rate
			if value < cumulative {
				decision.Outcome, decision.PreventExecution = option.mode, option.prevent
				break
			}
		}
	}
	if decision.PreventExecution {
		decision.DiskMB = 0 // no handler runs: nothing would feel a full /tmp
	}
	return decision
}

// matches reports whether every condition holds for the event. An event the engine could
// not read matches no condition list (not even exists: false): the proxy then passes it
// through and says so once.
func matches(conditions []Condition, event Event) bool {
	if len(conditions) == 0 {
		return true
	}
	if event == nil || !event.Parsed() {
		return false
	}
	for index := range conditions {
		if !conditions[index].holds(event) {
			return false
		}
	}
	return true
}

func (c *Condition) holds(event Event) bool {
	value, present := event.Lookup(c.steps)
	present = present && value != nil
	switch c.Op {
	case "exists":
		return present == c.Exists
	case "equals":
		if !present {
			return c.Equals == nil
		}
		return equalScalars(value, c.Equals)
	case "prefix":
		text, ok := value.(string)
		return present && ok && strings.HasPrefix(text, c.Text)
	case "regex":
		text, ok := value.(string)
		return present && ok && c.re.MatchString(text)
	}
	return false
}

// equalScalars compares a JSON scalar of the event with the condition's value: strings
// with strings, numbers numerically, booleans with booleans; objects and lists never match.
func equalScalars(value, want any) bool {
	switch typed := value.(type) {
	case string:
		other, ok := want.(string)
		return ok && typed == other
	case bool:
		other, ok := want.(bool)
		return ok && typed == other
	case json.Number:
		number, err := typed.Float64()
		other, ok := want.(float64)
		return err == nil && ok && number == other
	case float64:
		other, ok := want.(float64)
		return ok && typed == other
	}
	return false
}

// JSONEvent is an event decoded from the invocation's payload, on first use.
type JSONEvent struct {
	raw     []byte
	decoded bool
	value   any
	ok      bool
}

// NewJSONEvent wraps a payload; nothing is decoded until a field is looked up.
func NewJSONEvent(raw []byte) *JSONEvent { return &JSONEvent{raw: raw} }

func (e *JSONEvent) decode() {
	if e.decoded {
		return
	}
	e.decoded = true
	decoder := json.NewDecoder(strings.NewReader(string(e.raw)))
	decoder.UseNumber()
	if err := decoder.Decode(&e.value); err == nil && !decoder.More() {
		e.ok = true
	}
}

func (e *JSONEvent) Parsed() bool {
	e.decode()
	return e.ok
}

func (e *JSONEvent) Lookup(steps []string) (any, bool) {
	e.decode()
	if !e.ok {
		return nil, false
	}
	current, parent := e.value, ""
	for _, step := range steps {
		switch node := current.(type) {
		case map[string]any:
			next, found := node[step]
			if !found && (parent == "headers" || parent == "multiValueHeaders") {
				next, found = caseless(node, step)
			}
			if !found {
				return nil, false
			}
			current = next
		case []any:
			index, err := strconv.Atoi(step)
			if err != nil || index < 0 || index >= len(node) {
				return nil, false
			}
			current = node[index]
		default:
			return nil, false
		}
		parent = step
	}
	return current, true
}

// caseless finds an HTTP header whatever its case (HTTP APIs lower-case header names,
// REST APIs and ALBs keep the client's).
func caseless(node map[string]any, name string) (any, bool) {
	for key, value := range node {
		if strings.EqualFold(key, name) {
			return value, true
		}
	}
	return nil, false
}
