package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResponseFormatReadsTheEvent(t *testing.T) {
	for _, test := range []struct{ configured, event, want string }{
		{"auto", `{"requestContext":{"elb":{"targetGroupArn":"arn"}}}`, formatALB},
		{"auto", `{"version":"2.0","requestContext":{"domainName":"x.lambda-url.eu-west-1.on.aws"}}`, formatFunctionURL},
		{"auto", `{"version":"2.0","requestContext":{"domainName":"x.execute-api.eu-west-1.amazonaws.com"}}`, formatHTTPAPI},
		{"auto", `{"httpMethod":"GET","requestContext":{"resourceId":"r"}}`, formatRestAPI},
		{"auto", `not json`, formatRestAPI},
		{formatALB, `{"version":"2.0"}`, formatALB},
	} {
		if got := ResponseFormat(test.configured, NewJSONEvent([]byte(test.event))); got != test.want {
			t.Errorf("%s %s: got %s, want %s", test.configured, test.event, got, test.want)
		}
	}
}

func TestErrorResponseIsAProxyResponseWithTheMarker(t *testing.T) {
	for _, test := range []struct {
		format     string
		multi      bool
		wantFields []string
	}{
		{formatRestAPI, false, []string{"statusCode", "headers", "body", "isBase64Encoded"}},
		{formatHTTPAPI, false, []string{"statusCode", "headers", "body", "isBase64Encoded"}},
		{formatALB, false, []string{"statusCode", "statusDescription", "headers", "body", "isBase64Encoded"}},
		{formatALB, true, []string{"statusCode", "statusDescription", "multiValueHeaders", "body", "isBase64Encoded"}},
	} {
		var document map[string]any
		if err := json.Unmarshal(ErrorResponse(418, test.format, test.multi, "r<&>"), &document); err != nil {
			t.Fatal(err)
		}
		if len(document) != len(test.wantFields) {
			t.Errorf("%s: fields %v", test.format, document)
		}
		for _, field := range test.wantFields {
			if _, ok := document[field]; !ok {
				t.Errorf("%s: no %s", test.format, field)
			}
		}
		if !strings.Contains(document["body"].(string), `"run_id":"r<&>"`) {
			t.Errorf("body %v", document["body"])
		}
	}
	if statusDescription(599) != "599" || statusDescription(503) != "503 Service Unavailable" {
		t.Error("status descriptions")
	}
}

func TestCorruptNeverPanicsOnOddPayloads(t *testing.T) {
	mangle := &CorruptionFault{Mode: corruptMangle}
	for _, payload := range []string{``, `null`, `"text"`, `{"statusCode":200}`, `{"statusCode":200,"body":7}`,
		`{"statusCode":200,"body":"x","headers":null}`, `{"statusCode":200,"body":"%%%","isBase64Encoded":true}`} {
		out := Corrupt([]byte(payload), mangle)
		if len(out) > len(payload)+60 {
			t.Errorf("%q grew to %q", payload, out)
		}
	}
	if got := string(Corrupt([]byte(`{"statusCode":200,"body":"x","headers":null}`), mangle)); !strings.Contains(got, markerHeader) {
		t.Errorf("no marker: %s", got)
	}
}
