package otslocal

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// LoopbackHost reports whether host, a Host header ("127.0.0.1:8900", "[::1]:8900") or a
// host alone, names a loopback address (127.0.0.0/8, ::1) or is "localhost", in any case.
// A name a DNS server answers for, which a web page's DNS rebinding can point at this
// machine, is not one.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostRefused answers a request whose Host a server on loopback does not serve: 403
// OTSAuthFailed, the code the service refuses access with, which every SDK shows.
func hostRefused(host string) *otsError {
	return &otsError{http.StatusForbidden, codeAuthFailed, fmt.Sprintf(
		"Host %q is not a loopback name: otslocal on a loopback address serves requests to 127.0.0.1, [::1] and localhost only "+
			"(a web page could reach it through DNS rebinding otherwise); allow others with AllowAnyHost (otsetl otslocal --allow-any-host).", host)}
}
