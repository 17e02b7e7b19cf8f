package aliyun

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckEndpoint checks that endpoint is a service endpoint as Alibaba Cloud's SDKs take it:
// an http or https URL with a host and no path, query, fragment or user. It returns the
// endpoint without a trailing slash, or an error quoting it as [RedactEndpoint] does that
// shows example, a valid endpoint of the service.
func CheckEndpoint(endpoint, example string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("endpoint %q: want an http:// or https:// URL with a host and no path, query, fragment or user, such as %s", RedactEndpoint(endpoint), example)
	}
	return strings.TrimSuffix(endpoint, "/"), nil
}

// redactedUserInfo stands for the user information RedactEndpoint removes.
const redactedUserInfo = "REDACTED"

// RedactEndpoint returns endpoint as it may be printed or logged: without the user
// information a URL may carry (`http://user:password@host` becomes
// `http://REDACTED@host`). It works on the text, whether or not it parses as a URL: what lies
// between the scheme's "//" (or the start, without one) and the last "@" is replaced, so a
// password holding "@", "/" or an invalid escape does not show either.
func RedactEndpoint(endpoint string) string {
	at := strings.LastIndexByte(endpoint, '@')
	if at < 0 {
		return endpoint
	}
	start := 0
	if i := strings.Index(endpoint, "//"); i >= 0 && i < at {
		start = i + len("//")
	}
	return endpoint[:start] + redactedUserInfo + endpoint[at:]
}
