package tablestore

import (
	"fmt"
	"testing"

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
