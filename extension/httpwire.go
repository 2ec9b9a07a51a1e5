package main

// Just enough HTTP/1.1 to relay the Runtime API byte for byte: a message head is kept as
// received (start line and every header line), bodies keep their framing (Content-Length,
// or chunked with extensions and trailers: response streaming), and only the headers the
// proxy acts on are parsed. No net/http: its per-request machinery is what the proxy is
// built to avoid on /next and /response.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

const (
	maxHeadBytes   = 64 << 10
	maxHeaderLines = 200
	relayPiece     = 256 << 10
)

var errProtocol = errors.New("malformed HTTP message")

// message is one parsed HTTP/1.x head.
type message struct {
	head          []byte // as received, ending with the empty line
	method        []byte // requests
	target        []byte // requests
	status        int    // responses
	contentLength int64  // -1 when absent
	chunked       bool
	keepAlive     bool
	expect100     bool
	requestID     []byte // Lambda-Runtime-Aws-Request-Id
	deadlineMs    []byte // Lambda-Runtime-Deadline-Ms
	responseMode  []byte // Lambda-Runtime-Function-Response-Mode
}

func (m *message) streaming() bool {
	return m.chunked || bytes.EqualFold(m.responseMode, []byte("streaming"))
}

// readHead reads one message head into dst (reused) and parses it; io.EOF at a clean end.
func readHead(reader *bufio.Reader, dst []byte, isResponse bool) (message, error) {
	msg := message{contentLength: -1, keepAlive: true, head: dst[:0]}
	var line []byte
	var err error
	for { // tolerate empty lines before a message
		line, err = reader.ReadSlice('\n')
		if err != nil {
			if err == io.EOF && len(line) == 0 {
				return msg, io.EOF
			}
			return msg, fmt.Errorf("reading a start line: %w", unexpected(err))
		}
		if len(bytes.TrimRight(line, "\r\n")) > 0 {
			break
		}
	}
	msg.head = append(msg.head, line...)
	for lines := 0; ; lines++ {
		line, err = reader.ReadSlice('\n')
		if err != nil {
			return msg, fmt.Errorf("reading the headers: %w", unexpected(err))
		}
		msg.head = append(msg.head, line...)
		if len(msg.head) > maxHeadBytes || lines > maxHeaderLines {
			return msg, fmt.Errorf("%w: header section too large", errProtocol)
		}
		if len(line) <= 2 && len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	return msg, msg.parse(isResponse)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parse reads the start line and the headers the proxy acts on from m.head.
func (m *message) parse(isResponse bool) error {
	rest := m.head
	first := true
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			end = len(rest) - 1
		}
		line := bytes.TrimRight(rest[:end+1], "\r\n")
		rest = rest[end+1:]
		if first {
			first = false
			if err := m.parseStart(line, isResponse); err != nil {
				return err
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if err := m.parseHeader(line); err != nil {
			return err
		}
	}
	return nil
}

func (m *message) parseStart(line []byte, isResponse bool) error {
	first := bytes.IndexByte(line, ' ')
	if first <= 0 {
		return fmt.Errorf("%w: start line %q", errProtocol, line)
	}
	if isResponse {
		rest := line[first+1:]
		if end := bytes.IndexByte(rest, ' '); end >= 0 {
			rest = rest[:end]
		}
		status, err := strconv.Atoi(string(rest))
		if err != nil {
			return fmt.Errorf("%w: status line %q", errProtocol, line)
		}
		m.status = status
		m.keepAlive = !bytes.HasPrefix(line, []byte("HTTP/1.0"))
		return nil
	}
	second := bytes.LastIndexByte(line, ' ')
	if second <= first {
		return fmt.Errorf("%w: request line %q", errProtocol, line)
	}
	m.method, m.target = line[:first], line[first+1:second]
	m.keepAlive = !bytes.Equal(line[second+1:], []byte("HTTP/1.0"))
	return nil
}

func (m *message) parseHeader(line []byte) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return fmt.Errorf("%w: header line %q", errProtocol, line)
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		length, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || length < 0 {
			return fmt.Errorf("%w: Content-Length %q", errProtocol, value)
		}
		m.contentLength = length
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		m.chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
	case bytes.EqualFold(name, []byte("Connection")):
		lower := bytes.ToLower(value)
		if bytes.Contains(lower, []byte("close")) {
			m.keepAlive = false
		} else if bytes.Contains(lower, []byte("keep-alive")) {
			m.keepAlive = true
		}
	case bytes.EqualFold(name, []byte("Expect")):
		m.expect100 = bytes.EqualFold(value, []byte("100-continue"))
	case bytes.EqualFold(name, []byte("Lambda-Runtime-Aws-Request-Id")):
		m.requestID = value
	case bytes.EqualFold(name, []byte("Lambda-Runtime-Deadline-Ms")):
		m.deadlineMs = value
	case bytes.EqualFold(name, []byte("Lambda-Runtime-Function-Response-Mode")):
		m.responseMode = value
	}
	return nil
}

// withoutHeaders returns the head without the named header lines (and with `extra` lines
// added before the empty line).
func withoutHeaders(head []byte, names []string, extra ...string) []byte {
	out := make([]byte, 0, len(head)+64)
	lines := bytes.SplitAfter(head, []byte("\n"))
	for index, line := range lines {
		if len(line) == 0 { // after the final newline
			continue
		}
		content := bytes.TrimRight(line, "\r\n")
		if index > 0 && len(content) == 0 {
			for _, added := range extra {
				out = append(out, added...)
				out = append(out, "\r\n"...)
			}
			out = append(out, line...)
			continue
		}
		drop := false
		if index > 0 {
			if colon := bytes.IndexByte(content, ':'); colon > 0 {
				for _, name := range names {
					if bytes.EqualFold(bytes.TrimSpace(content[:colon]), []byte(name)) {
						drop = true
						break
					}
				}
			}
		}
		if !drop {
			out = append(out, line...)
		}
	}
	return out
}

// hasBody reports whether a response carries a body delimited by the connection's close.
func (m *message) bodyUntilClose() bool {
	return m.status != 0 && !m.chunked && m.contentLength < 0 &&
		m.status != 204 && m.status != 304 && (m.status < 100 || m.status >= 200)
}

// readBody reads the whole body (chunked: with its framing, as on the wire) into dst.
func readBody(reader *bufio.Reader, msg *message, dst []byte) ([]byte, error) {
	switch {
	case msg.chunked:
		return readChunked(reader, dst, nil)
	case msg.contentLength > 0:
		start := len(dst)
		dst = grow(dst, int(msg.contentLength))
		if _, err := io.ReadFull(reader, dst[start:]); err != nil {
			return dst, fmt.Errorf("reading a body: %w", unexpected(err))
		}
		return dst, nil
	case msg.bodyUntilClose():
		rest, err := io.ReadAll(reader)
		msg.keepAlive = false
		return append(dst, rest...), err
	}
	return dst, nil
}

func grow(buffer []byte, extra int) []byte {
	needed := len(buffer) + extra
	if cap(buffer) >= needed {
		return buffer[:needed]
	}
	bigger := make([]byte, needed, needed+needed/4)
	copy(bigger, buffer)
	return bigger
}

// readChunked reads a chunked body with its framing and trailers exactly as received;
// with `sink`, every piece is passed on as soon as it arrives (response streaming) and
// dst is returned unchanged.
func readChunked(reader *bufio.Reader, dst []byte, sink io.Writer) ([]byte, error) {
	emit := func(piece []byte) error {
		if sink != nil {
			_, err := sink.Write(piece)
			return err
		}
		dst = append(dst, piece...)
		return nil
	}
	for {
		sizeLine, err := reader.ReadSlice('\n')
		if err != nil {
			return dst, fmt.Errorf("reading a chunk size: %w", unexpected(err))
		}
		field := bytes.TrimSpace(sizeLine)
		if semicolon := bytes.IndexByte(field, ';'); semicolon >= 0 {
			field = bytes.TrimSpace(field[:semicolon])
		}
		size, err := strconv.ParseInt(string(field), 16, 64)
		if err != nil || size < 0 {
			return dst, fmt.Errorf("%w: chunk size %q", errProtocol, sizeLine)
		}
		if size == 0 {
			trailer := append([]byte(nil), sizeLine...)
			for {
				line, err := reader.ReadSlice('\n')
				if err != nil {
					return dst, fmt.Errorf("reading trailers: %w", unexpected(err))
				}
				trailer = append(trailer, line...)
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					break
				}
			}
			return dst, emit(trailer)
		}
		if err := emit(sizeLine); err != nil {
			return dst, err
		}
		remaining := size + 2 // the data and its CRLF
		for remaining > 0 {
			take := remaining
			if take > relayPiece {
				take = relayPiece
			}
			piece := make([]byte, take)
			if _, err := io.ReadFull(reader, piece); err != nil {
				return dst, fmt.Errorf("reading a chunk: %w", unexpected(err))
			}
			if err := emit(piece); err != nil {
				return dst, err
			}
			remaining -= take
		}
	}
}

// dechunk returns the data of a raw chunked body (framing and trailers dropped).
func dechunk(raw []byte) ([]byte, error) {
	var out []byte
	for {
		end := bytes.Index(raw, []byte("\r\n"))
		if end < 0 {
			return nil, fmt.Errorf("%w: truncated chunked body", errProtocol)
		}
		field := raw[:end]
		if semicolon := bytes.IndexByte(field, ';'); semicolon >= 0 {
			field = field[:semicolon]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(field)), 16, 64)
		if err != nil || size < 0 || int64(len(raw)) < int64(end)+2+size {
			return nil, fmt.Errorf("%w: chunk size %q", errProtocol, field)
		}
		if size == 0 {
			return out, nil
		}
		out = append(out, raw[end+2:end+2+int(size)]...)
		raw = raw[end+2+int(size):]
		raw = bytes.TrimPrefix(raw, []byte("\r\n"))
	}
}

// relayBody copies a body from reader to writer without buffering it whole.
func relayBody(reader *bufio.Reader, msg *message, writer io.Writer) error {
	switch {
	case msg.chunked:
		_, err := readChunked(reader, nil, writer)
		return err
	case msg.contentLength > 0:
		_, err := io.CopyN(writer, reader, msg.contentLength)
		return unexpected(err)
	}
	return nil
}

// simpleResponse is a complete response with a JSON body.
func simpleResponse(status int, reason string, body []byte, closing bool) []byte {
	out := make([]byte, 0, 160+len(body))
	out = fmt.Appendf(out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
		status, reason, len(body))
	if closing {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	return append(out, body...)
}

// postRequest is a complete POST with a JSON body.
func postRequest(path string, extraHeaders []string, body []byte) []byte {
	out := make([]byte, 0, 200+len(body))
	out = append(out, "POST "...)
	out = append(out, path...)
	out = append(out, " HTTP/1.1\r\nHost: runtime-api\r\nContent-Type: application/json\r\n"...)
	for _, header := range extraHeaders {
		out = append(out, header...)
		out = append(out, "\r\n"...)
	}
	out = fmt.Appendf(out, "Content-Length: %d\r\n\r\n", len(body))
	return append(out, body...)
}
