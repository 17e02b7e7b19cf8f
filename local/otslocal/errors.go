package otslocal

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes the server answers with. They are the codes of the real service
// (Tablestore error codes: https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes).
// None of them is retried by the Go SDK (tablestore/api.go, retryNotMatterActions), so an
// error reaches the caller at once instead of after ten silent retries.
const (
	codeParameterInvalid    = "OTSParameterInvalid"
	codeInvalidPK           = "OTSInvalidPK"
	codeConditionCheckFail  = "OTSConditionCheckFail"
	codeObjectNotExist      = "OTSObjectNotExist"
	codeObjectAlreadyExist  = "OTSObjectAlreadyExist"
	codeQuotaExhausted      = "OTSQuotaExhausted"
	codeMethodNotAllowed    = "OTSMethodNotAllowed"
	codeRequestBodyTooLarge = "OTSRequestBodyTooLarge"
	codeInternalServerError = "OTSInternalServerError"
	codeAuthFailed          = "OTSAuthFailed"
)

// otsError is an error answered to the client: an HTTP status plus the protobuf
// Error{code, message} body.
type otsError struct {
	httpStatus int
	code       string
	message    string
}

func (e *otsError) Error() string {
	return e.code + ": " + e.message
}

// Errors with a fixed message, verbatim from the real service.
var (
	errConditionCheckFail  = &otsError{http.StatusForbidden, codeConditionCheckFail, "Condition check failed."}
	errTableNotExist       = &otsError{http.StatusNotFound, codeObjectNotExist, "Requested table does not exist."}
	errTableAlreadyExist   = &otsError{http.StatusConflict, codeObjectAlreadyExist, "Requested table already exists."}
	errTableQuotaExhausted = &otsError{http.StatusForbidden, codeQuotaExhausted, "Number of tables exceeded the quota."}
	errRequestBodyTooLarge = &otsError{http.StatusRequestEntityTooLarge, codeRequestBodyTooLarge, "The size of POST data is too large."}
	errMethodNotAllowed    = &otsError{http.StatusMethodNotAllowed, codeMethodNotAllowed, "Only POST method for requests is supported."}
	errInternalServer      = &otsError{http.StatusInternalServerError, codeInternalServerError, "Internal server error."}
	errUndecodableRequest  = parameterInvalid("Parse PBMessage from RawString failed.")
)

// parameterInvalid is a 400 OTSParameterInvalid with a formatted message.
func parameterInvalid(format string, args ...any) *otsError {
	return &otsError{http.StatusBadRequest, codeParameterInvalid, fmt.Sprintf(format, args...)}
}

// invalidPK is a 400 OTSInvalidPK: a request primary key that does not match the table schema.
func invalidPK(format string, args ...any) *otsError {
	return &otsError{http.StatusBadRequest, codeInvalidPK, fmt.Sprintf(format, args...)}
}

// authFailed is a 403 OTSAuthFailed: a request that strict mode does not authenticate.
func authFailed(format string, args ...any) *otsError {
	return &otsError{http.StatusForbidden, codeAuthFailed, fmt.Sprintf(format, args...)}
}

// unsupported is the answer to a request, or a part of one, this server does not implement.
// It mirrors the real service's answer to an unknown action ("Unsupported operation: X.").
func unsupported(what string) *otsError {
	return parameterInvalid("Unsupported operation: %s.", what)
}

// asOTSError turns any error into what is answered: an *otsError as it is, anything else
// as 500 OTSInternalServerError.
func asOTSError(err error) *otsError {
	var oe *otsError
	if errors.As(err, &oe) {
		return oe
	}
	return errInternalServer
}
