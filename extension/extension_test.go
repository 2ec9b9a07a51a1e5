package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProxyPortAndDisableKey(t *testing.T) {
	for _, test := range []struct {
		raw  string
		port int
		err  bool
	}{{"", defaultPort, false}, {"9333", 9333, false}, {"0", 0, true}, {"65536", 0, true}, {" 9", 0, true}, {"x", 0, true}} {
		port, err := proxyPort(func(string) string { return test.raw })
		if port != test.port || (err != nil) != test.err {
			t.Errorf("%q: %d %v", test.raw, port, err)
		}
	}
	if defaultPort == 9100 || defaultPort == 9009 {
		t.Error("the default port is another fault extension's")
	}
	for value, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "tRuE": true, "0": false, "yes": false, "": false} {
		if got := isDisabled(func(string) string { return value }); got != want {
			t.Errorf("%q: %v", value, got)
		}
	}
}

func TestExtensionsClientRegistersAndReadsShutdown(t *testing.T) {
	var registered string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case extensionsPrefix + "/register":
			body, _ := io.ReadAll(r.Body)
			registered = r.Header.Get("Lambda-Extension-Name") + " " + string(body)
			w.Header().Set("Lambda-Extension-Identifier", "ext-1")
			_, _ = io.WriteString(w, `{"functionName":"fn"}`)
		case extensionsPrefix + "/event/next":
			if r.Header.Get("Lambda-Extension-Identifier") != "ext-1" {
				w.WriteHeader(403)
				return
			}
			_, _ = io.WriteString(w, `{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}`)
		}
	}))
	defer server.Close()
	client := &ExtensionsClient{api: strings.TrimPrefix(server.URL, "http://")}
	if err := client.Register("gameday-chaos", []string{"SHUTDOWN"}); err != nil {
		t.Fatal(err)
	}
	if registered != `gameday-chaos {"events":["SHUTDOWN"]}` || client.Identifier != "ext-1" {
		t.Fatalf("registered %q as %q", registered, client.Identifier)
	}
	event, reason, err := client.NextEvent()
	if err != nil || event != "SHUTDOWN" || reason != "spindown" {
		t.Fatalf("%s %s %v", event, reason, err)
	}
}
