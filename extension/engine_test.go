package main

import "testing"

func TestDecideConsumesNoDrawForModesThatCannotFire(t *testing.T) {
	config, err := ParseConfig(config(`{"latency":{"ms":5,"rate":0},"error":{"rate":1,"match":[{"path":"a","equals":"b"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	draws := 0
	decision := Decide(config, NewJSONEvent([]byte(`{"a":"c"}`)), func() float64 { draws++; return 0 }, 1)
	if draws != 0 || decision.Injects() {
		t.Fatalf("%d draws, %+v", draws, decision)
	}
	if Decide(nil, nil, nil, 0).Injects() {
		t.Fatal("no config injects")
	}
}

func TestEventLookup(t *testing.T) {
	event := NewJSONEvent([]byte(`{"a":{"b":[{"c":1}]},"headers":{"X-Tenant":"t"},"n":null}`))
	for _, test := range []struct {
		path    []string
		present bool
	}{
		{[]string{"a", "b", "0", "c"}, true},
		{[]string{"a", "b", "1", "c"}, false},
		{[]string{"a", "b", "x"}, false},
		{[]string{"headers", "x-tenant"}, true},
		{[]string{"a", "B"}, false}, // case matters outside headers
		{[]string{"n"}, true},
		{[]string{"n", "deeper"}, false},
	} {
		if _, present := event.Lookup(test.path); present != test.present {
			t.Errorf("%v: present %v", test.path, present)
		}
	}
	if NewJSONEvent([]byte(`{"a":1} trailing`)).Parsed() {
		t.Error("trailing data parsed")
	}
}
