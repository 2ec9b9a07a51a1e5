package main

// The payloads the extension puts in place of the function's own: an HTTP error in the
// format of the integration that invoked the function, an injected function error, and a
// corrupted response body. Pure functions of their arguments.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	markerHeader          = "X-Gameday-Chaos-Fault"
	injectedExceptionType = "GamedayChaos.InjectedException"
)

// ResponseFormat resolves the format of an injected HTTP error. "auto" reads the event:
//   - ALB: requestContext.elb is present ("Lambda functions as targets of an Application
//     Load Balancer", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html);
//   - Function URL: payload version 2.0 whose requestContext.domainName is a *.lambda-url.*
//     host ("Invoking Lambda function URLs", https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html);
//   - HTTP API: payload version 2.0 ("Create AWS Lambda proxy integrations for HTTP APIs",
//     https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html);
//   - otherwise a REST API proxy integration (also the answer for events of other sources).
func ResponseFormat(configured string, event Event) string {
	if configured != formatAuto && configured != "" {
		return configured
	}
	if event == nil || !event.Parsed() {
		return formatRestAPI
	}
	if _, ok := event.Lookup([]string{"requestContext", "elb"}); ok {
		return formatALB
	}
	if version, _ := event.Lookup([]string{"version"}); version == "2.0" {
		domain, _ := event.Lookup([]string{"requestContext", "domainName"})
		if text, ok := domain.(string); ok && strings.Contains(text, ".lambda-url.") {
			return formatFunctionURL
		}
		return formatHTTPAPI
	}
	return formatRestAPI
}

// multiValueALB reports whether an ALB event came from a target group with multi-value
// headers on: the event then carries multiValueHeaders, and the response must too.
func multiValueALB(event Event) bool {
	if event == nil || !event.Parsed() {
		return false
	}
	_, ok := event.Lookup([]string{"multiValueHeaders"})
	return ok
}

type errorBody struct {
	Error         string `json:"error"`
	InjectedFault string `json:"injected_fault"`
	RunID         string `json:"run_id"`
}

type proxyResponse struct {
	StatusCode        int                 `json:"statusCode"`
	StatusDescription string              `json:"statusDescription,omitempty"`
	Headers           map[string]string   `json:"headers,omitempty"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders,omitempty"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// ErrorResponse is the response that replaces the function's own: the HTTP status
// `code` with a JSON body naming the run, and the marker header clients recognise.
func ErrorResponse(code int, format string, multiValue bool, runID string) []byte {
	body := compactJSON(errorBody{
		Error:         "injected fault: HTTP " + strconv.Itoa(code) + " (gameday-chaos)",
		InjectedFault: "error",
		RunID:         runID,
	})
	response := proxyResponse{StatusCode: code, Body: string(body)}
	headers := map[string]string{"Content-Type": "application/json", markerHeader: "error"}
	if format == formatALB {
		response.StatusDescription = statusDescription(code)
	}
	if format == formatALB && multiValue {
		response.MultiValueHeaders = map[string][]string{}
		for name, value := range headers {
			response.MultiValueHeaders[name] = []string{value}
		}
	} else {
		response.Headers = headers
	}
	return compactJSON(response)
}

func statusDescription(code int) string {
	if text := statusTexts[code]; text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}

type exceptionBody struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace"`
}

// ExceptionBody is the function error reported for an injected exception.
func ExceptionBody(runID string) []byte {
	return compactJSON(exceptionBody{
		ErrorMessage: "injected exception (gameday-chaos run " + runID + ")",
		ErrorType:    injectedExceptionType,
		StackTrace:   []string{},
	})
}

// Corrupt returns the handler's response with its body replaced or mangled. A proxy
// response (a JSON object with statusCode and a string body) keeps its status and
// headers, gets the marker header, and only its body changes; any other payload is
// changed whole. Mangling keeps the first half of the body (cut on a character boundary),
// so JSON bodies stop parsing and text bodies arrive truncated.
func Corrupt(payload []byte, fault *CorruptionFault) []byte {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) == nil {
		var body string
		_, hasStatus := fields["statusCode"]
		if hasStatus && json.Unmarshal(fields["body"], &body) == nil && fields["body"] != nil {
			return corruptProxyResponse(fields, body, fault)
		}
	}
	if fault.Mode == corruptReplace {
		return []byte(fault.Body)
	}
	return []byte(firstHalf(string(payload)))
}

func corruptProxyResponse(fields map[string]json.RawMessage, body string, fault *CorruptionFault) []byte {
	var encoded bool
	_ = json.Unmarshal(fields["isBase64Encoded"], &encoded)
	switch {
	case fault.Mode == corruptReplace:
		body, encoded = fault.Body, false
	case encoded:
		if raw, err := base64.StdEncoding.DecodeString(body); err == nil {
			body = base64.StdEncoding.EncodeToString(raw[:len(raw)/2])
		} else {
			body, encoded = firstHalf(body), false
		}
	default:
		body = firstHalf(body)
	}
	fields["body"] = compactJSON(body)
	fields["isBase64Encoded"] = compactJSON(encoded)
	addMarker(fields, "corruption")
	return compactJSON(fields)
}

// addMarker sets the marker header in the response's headers (or multiValueHeaders when
// the response uses only those).
func addMarker(fields map[string]json.RawMessage, value string) {
	if _, hasHeaders := fields["headers"]; !hasHeaders {
		if raw, ok := fields["multiValueHeaders"]; ok {
			var multi map[string][]string
			if json.Unmarshal(raw, &multi) == nil && multi != nil {
				multi[markerHeader] = []string{value}
				fields["multiValueHeaders"] = compactJSON(multi)
				return
			}
		}
	}
	var headers map[string]any
	if json.Unmarshal(fields["headers"], &headers) != nil || headers == nil {
		headers = map[string]any{}
	}
	headers[markerHeader] = value
	fields["headers"] = compactJSON(headers)
}

func firstHalf(text string) string {
	cut := len(text) / 2
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

// compactJSON marshals without HTML escaping (as Python's json.dumps writes it).
func compactJSON(value any) []byte {
	var buffer bytes.Buffer
	encoder := json.NewEncoder(&buffer)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return []byte("null")
	}
	return bytes.TrimRight(buffer.Bytes(), "\n")
}

// statusTexts are the reason phrases of the 4xx and 5xx codes an error fault may use
// (net/http has them too, but the extension does not link net/http: smaller, faster start).
var statusTexts = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
	404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
	407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
	411: "Length Required", 412: "Precondition Failed", 413: "Request Entity Too Large",
	414: "Request URI Too Long", 415: "Unsupported Media Type",
	416: "Requested Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a teapot",
	421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked",
	424: "Failed Dependency", 425: "Too Early", 426: "Upgrade Required",
	428: "Precondition Required", 429: "Too Many Requests",
	431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
	506: "Variant Also Negotiates", 507: "Insufficient Storage", 508: "Loop Detected",
	510: "Not Extended", 511: "Network Authentication Required",
}
