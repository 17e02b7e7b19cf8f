package aliyun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testAccessKeyID     = "STS.test-key-id"
	testAccessKeySecret = "test-secret-9f8e7d"
	testSecurityToken   = "CAIS-test-token-1a2b3c"
)

var testCreds = Credentials{AccessKeyID: testAccessKeyID, AccessKeySecret: testAccessKeySecret, SecurityToken: testSecurityToken}

// assertNoSecrets checks that s shows neither the test secret nor the test token.
func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	assert.NotContains(t, s, testAccessKeySecret)
	assert.NotContains(t, s, testSecurityToken)
}

func TestCredentialsNeverFormatSecrets(t *testing.T) {
	type invocation struct {
		RequestID string
		Creds     Credentials
		Ptr       *Credentials
	}
	inv := invocation{RequestID: "req-1", Creds: testCreds, Ptr: &testCreds}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for name, arg := range map[string]any{"value": testCreds, "pointer": &testCreds, "nested": inv, "nested pointer": &inv} {
			t.Run(verb+" "+name, func(t *testing.T) {
				out := fmt.Sprintf(verb, arg)
				assertNoSecrets(t, out)
				assert.Contains(t, out, testAccessKeyID)
				assert.Contains(t, out, redacted)
			})
		}
	}
}

func TestCredentialsGoStringIsALiteral(t *testing.T) {
	assert.Equal(t,
		`aliyun.Credentials{AccessKeyID:"STS.test-key-id", AccessKeySecret:"<redacted>", SecurityToken:"<redacted>"}`,
		fmt.Sprintf("%#v", testCreds))
	assert.Equal(t,
		`aliyun.Credentials{AccessKeyID:"id", AccessKeySecret:"<redacted>", SecurityToken:""}`,
		fmt.Sprintf("%#v", Credentials{AccessKeyID: "id", AccessKeySecret: "s"}),
		"an absent token stays visibly empty")
}

func TestCredentialsNeverLogSecrets(t *testing.T) {
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(newHandler(&buf))
			logger.Info("invoke", "creds", testCreds, "ptr", &testCreds, slog.Any("any", testCreds))
			out := buf.String()
			assertNoSecrets(t, out)
			assert.Contains(t, out, testAccessKeyID)
			assert.Contains(t, out, redacted)
		})
	}
}

func TestCredentialsNeverMarshalSecrets(t *testing.T) {
	out, err := json.Marshal(map[string]any{"value": testCreds, "pointer": &testCreds})
	require.NoError(t, err)
	assertNoSecrets(t, string(out))

	var decoded map[string]map[string]string
	require.NoError(t, json.Unmarshal(out, &decoded))
	assert.Equal(t, map[string]string{"AccessKeyID": testAccessKeyID, "AccessKeySecret": redacted, "SecurityToken": redacted}, decoded["value"])
	assert.Equal(t, decoded["value"], decoded["pointer"])
}
