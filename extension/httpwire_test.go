package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadHeadKeepsTheHeadAndParsesWhatTheProxyActsOn(t *testing.T) {
	for _, test := range []struct {
		name, raw                  string
		response                   bool
		status                     int
		length                     int64
		chunked, keepAlive, expect bool
		requestID, mode            string
	}{
		{name: "next answer", raw: "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: abc\r\nContent-Length: 2\r\n\r\n", response: true,
			status: 200, length: 2, keepAlive: true, requestID: "abc"},
		{name: "streamed post", raw: "POST /x HTTP/1.1\r\nlambda-runtime-function-response-mode: streaming\r\nTransfer-Encoding: chunked\r\n\r\n",
			length: -1, chunked: true, keepAlive: true, mode: "streaming"},
		{name: "expect and close", raw: "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: 9\r\n\r\n",
			length: 9, expect: true},
		{name: "HTTP/1.0", raw: "GET /x HTTP/1.0\r\n\r\n", length: -1},
		{name: "leading empty line", raw: "\r\nGET /x HTTP/1.1\r\n\r\n", length: -1, keepAlive: true},
	} {
		t.Run(test.name, func(t *testing.T) {
			msg, err := readHead(bufio.NewReader(strings.NewReader(test.raw+"BODY")), nil, test.response)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{msg.status, msg.contentLength, msg.chunked, msg.keepAlive, msg.expect100, string(msg.requestID), string(msg.responseMode)}
			want := []any{test.status, test.length, test.chunked, test.keepAlive, test.expect, test.requestID, test.mode}
			for index := range got {
				if got[index] != want[index] {
					t.Errorf("field %d: got %v, want %v", index, got[index], want[index])
				}
			}
			if string(msg.head) != strings.TrimPrefix(test.raw, "\r\n") {
				t.Errorf("head %q", msg.head)
			}
		})
	}
}

func TestReadHeadRefusesBrokenMessages(t *testing.T) {
	for _, raw := range []string{
		"GET /x HTTP/1.1\r\nHost: a\r\n",                                 // no end of headers
		"GARBAGE\r\n\r\n",                                                // no request line
		"GET /x HTTP/1.1\r\nno colon\r\n\r\n",                            // header without a colon
		"GET /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n",                  // negative length
		"GET /x HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", 300) + "\r\n", // too many headers
	} {
		if _, err := readHead(bufio.NewReader(strings.NewReader(raw)), nil, false); err == nil {
			t.Errorf("%.40q accepted", raw)
		}
	}
	if _, err := readHead(bufio.NewReader(strings.NewReader("")), nil, false); !errors.Is(err, io.EOF) {
		t.Errorf("clean end: %v", err)
	}
}

func TestChunkedBodiesAreRelayedByteForByte(t *testing.T) {
	wire := "5\r\nhello\r\n1a;ext=1\r\n" + strings.Repeat("z", 26) + "\r\n0\r\nLambda-Runtime-Function-Error-Type: X\r\n\r\n"
	reader := bufio.NewReader(strings.NewReader(wire + "NEXT"))
	raw, err := readChunked(reader, nil, nil)
	if err != nil || string(raw) != wire {
		t.Fatalf("%q %v", raw, err)
	}
	if rest, _ := io.ReadAll(reader); string(rest) != "NEXT" {
		t.Errorf("read past the body: %q", rest)
	}
	var sink bytes.Buffer
	if _, err := readChunked(bufio.NewReader(strings.NewReader(wire)), nil, &sink); err != nil || sink.String() != wire {
		t.Errorf("streamed %q %v", sink.String(), err)
	}
	data, err := dechunk([]byte(wire))
	if err != nil || string(data) != "hello"+strings.Repeat("z", 26) {
		t.Errorf("dechunk %q %v", data, err)
	}
	if _, err := readChunked(bufio.NewReader(strings.NewReader("5\r\nhel")), nil, nil); err == nil {
		t.Error("truncated chunk accepted")
	}
}

func TestWithoutHeadersDropsAndAdds(t *testing.T) {
	head := []byte("POST /x HTTP/1.1\r\nExpect: 100-continue\r\ncontent-length: 3\r\nKeep: me\r\n\r\n")
	got := string(withoutHeaders(head, []string{"Expect", "Content-Length"}, "Content-Length: 9"))
	want := "POST /x HTTP/1.1\r\nKeep: me\r\nContent-Length: 9\r\n\r\n"
	if got != want {
		t.Errorf("got %q", got)
	}
}
