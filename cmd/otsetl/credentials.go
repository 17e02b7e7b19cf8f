package main

import (
	"fmt"

	"github.com/otsetl/otsetl/aliyun"
)

// The environment variables the command-line tools take credentials from: Alibaba Cloud's
// standard names, which FC also sets in a function instance. The function itself never reads
// them; it signs with each invocation's own STS credentials.
const (
	envAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	envAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	envSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// credentialsFromEnv returns the credentials in ALIBABA_CLOUD_ACCESS_KEY_ID,
// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN, read through getenv, and
// whether the key id and secret are both set.
func credentialsFromEnv(getenv func(string) string) (aliyun.Credentials, bool) {
	creds := aliyun.Credentials{
		AccessKeyID:     getenv(envAccessKeyID),
		AccessKeySecret: getenv(envAccessKeySecret),
		SecurityToken:   getenv(envSecurityToken),
	}
	return creds, creds.AccessKeyID != "" && creds.AccessKeySecret != ""
}

// requireCredentials returns the credentials of the environment, or a usage error saying
// that what (e.g. "--endpoint") needs them.
func requireCredentials(getenv func(string) string, what string) (aliyun.Credentials, error) {
	creds, ok := credentialsFromEnv(getenv)
	if !ok {
		return creds, usageError{fmt.Errorf("%s needs credentials in %s and %s", what, envAccessKeyID, envAccessKeySecret)}
	}
	return creds, nil
}
