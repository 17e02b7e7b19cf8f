package tablestore

import (
	"errors"
	"fmt"
)

// Tablestore error codes this package acts on (Tablestore error code reference,
// https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes; the SDK's
// constants in tablestore/error.go).
const (
	// codeConditionCheckFail is a failed row existence expectation or column condition.
	codeConditionCheckFail = "OTSConditionCheckFail"

	// quotaTooFrequentMessage is the one OTSQuotaExhausted message that is transient.
	quotaTooFrequentMessage = "Too frequent table operations."
)

// ErrDeadline is wrapped by the error a call returns when retryable failures continued
// until the context's deadline left no time for another attempt. The same error also
// wraps the last failure, so errors.As finds its [*RowError] or the SDK's *OtsError.
var ErrDeadline = errors.New("tablestore: no time left before the deadline for another attempt")

// RowError is one row that Tablestore refused in a BatchWriteRow or BatchGetRow with a
// per-row error (the RowInBatchWriteRowResponse / RowInBatchGetRowResponse error field).
type RowError struct {
	// Table is the table name.
	Table string
	// Operation is what was asked of the row: "PutRow", "UpdateRow", "DeleteRow" (in a
	// BatchWriteRow) or "GetRow" (in a BatchGetRow).
	Operation string
	// PrimaryKey is the row's primary key formatted as `id=5, sub="a"` (see [FormatPrimaryKey]).
	PrimaryKey string
	// Code and Message are Tablestore's, e.g. "OTSInvalidPK" and
	// "Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER.".
	Code    string
	Message string
}

// Error returns `tablestore: PutRow on table "result", row (id=5): OTSInvalidPK Validate PK…`.
func (e *RowError) Error() string {
	return fmt.Sprintf("tablestore: %s on table %q, row (%s): %s %s", e.Operation, e.Table, e.PrimaryKey, e.Code, e.Message)
}
