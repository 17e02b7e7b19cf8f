package tablestore

import (
	"fmt"
	"testing"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientValidatesTheConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no endpoint":          {Instance: "i"},
		"no scheme":            {Endpoint: "127.0.0.1:80", Instance: "i"},
		"ftp":                  {Endpoint: "ftp://host", Instance: "i"},
		"no host":              {Endpoint: "http://", Instance: "i"},
		"path":                 {Endpoint: "http://host/v1", Instance: "i"},
		"query":                {Endpoint: "http://host?x=1", Instance: "i"},
		"user":                 {Endpoint: "http://me@host", Instance: "i"},
		"no instance":          {Endpoint: "http://host"},
		"negative concurrency": {Endpoint: "http://host", Instance: "i", MaxConcurrentRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(cfg, testCreds)
			require.Error(t, err)
			assert.Nil(t, c)
			assertNoSecrets(t, err.Error())
		})
	}
	c, err := NewClient(Config{Endpoint: "https://inst.cn-hangzhou.vpc.tablestore.aliyuncs.com/", Instance: "inst"}, testCreds)
	require.NoError(t, err)
	assert.Equal(t, "https://inst.cn-hangzhou.vpc.tablestore.aliyuncs.com", c.endpoint, "the trailing slash is dropped")
	assert.Equal(t, DefaultMaxConcurrentRequests, c.maxConcurrent)
}

func TestClientNeverFormatsSecrets(t *testing.T) {
	c, err := NewClient(Config{Endpoint: "http://127.0.0.1:1", Instance: "inst"}, testCreds)
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		assertNoSecrets(t, out)
		assert.Contains(t, out, "inst")
	}
}

// TestEndpointUserInformationIsRedacted: `--endpoint http://user:pass@host` once echoed the
// password in the error that refused it.
func TestEndpointUserInformationIsRedacted(t *testing.T) {
	_, err := CheckEndpoint("http://user:pass@host")
	require.EqualError(t, err, `endpoint "http://REDACTED@host": want an http:// or https:// URL with a host and no path, query, fragment or user, such as https://myinstance.cn-hangzhou.ots.aliyuncs.com`)

	for endpoint, want := range map[string]string{
		"http://user:pass@host":                     "http://REDACTED@host",
		"https://user@host:8443/":                   "https://REDACTED@host:8443/",
		"http://user:p@ss@host":                     "http://REDACTED@host",
		"http://user:pa/ss@host":                    "http://REDACTED@host",
		"http://user:pa%zz@host":                    "http://REDACTED@host", // not a URL: an invalid escape
		"user:pass@host:80":                         "REDACTED@host:80",     // no scheme
		"https://inst.cn-hangzhou.ots.aliyuncs.com": "https://inst.cn-hangzhou.ots.aliyuncs.com",
		"": "",
	} {
		assert.Equal(t, want, aliyun.RedactEndpoint(endpoint), endpoint)
		_, err := CheckEndpoint(endpoint)
		if err != nil {
			assert.NotContains(t, err.Error(), "pass", endpoint)
			assert.NotContains(t, err.Error(), "ss@", endpoint)
		}
	}
}
