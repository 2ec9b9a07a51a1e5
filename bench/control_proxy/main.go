// Command control-proxy is the benchmark's control: a minimal pass-through Runtime API
// proxy built from net/http/httputil.ReverseProxy, started as an external extension with a
// wrapper that points the runtime at it (the design of AWS's sample proxy extensions). It
// injects nothing; bench/extension_overhead.py measures it beside the gameday-chaos proxy.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
)

const extensionAPI = "/2020-01-01/extension"

func main() {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	port := os.Getenv("CONTROL_PROXY_PORT")
	target, err := url.Parse("http://" + api)
	if err != nil || port == "" {
		fmt.Fprintln(os.Stderr, "control-proxy: AWS_LAMBDA_RUNTIME_API and CONTROL_PROXY_PORT are needed")
		os.Exit(1)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	go func() {
		if err := http.ListenAndServe("127.0.0.1:"+port, proxy); err != nil {
			fmt.Fprintln(os.Stderr, "control-proxy:", err)
			os.Exit(1)
		}
	}()
	body := bytes.NewBufferString(`{"events":["SHUTDOWN"]}`)
	request, _ := http.NewRequest("POST", "http://"+api+extensionAPI+"/register", body)
	request.Header.Set("Lambda-Extension-Name", filepath.Base(os.Args[0]))
	response, err := http.DefaultClient.Do(request)
	if err != nil || response.StatusCode != 200 {
		fmt.Fprintln(os.Stderr, "control-proxy: register failed:", err)
		os.Exit(1)
	}
	_, _ = io.Copy(io.Discard, response.Body)
	response.Body.Close()
	identifier := response.Header.Get("Lambda-Extension-Identifier")
	for {
		next, _ := http.NewRequest("GET", "http://"+api+extensionAPI+"/event/next", nil)
		next.Header.Set("Lambda-Extension-Identifier", identifier)
		event, err := http.DefaultClient.Do(next)
		if err != nil {
			os.Exit(1)
		}
		payload, _ := io.ReadAll(event.Body)
		event.Body.Close()
		if bytes.Contains(payload, []byte("SHUTDOWN")) {
			os.Exit(0)
		}
	}
}
