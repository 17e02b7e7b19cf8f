package fcruntime

import (
	"context"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fc/messages"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/otsetl/otsetl/aliyun"
)

// EnvRuntimeAPI is set by FC's go1 runtime to the address of its runtime API
// (fc-runtime-go-sdk fc/entry.go); serve with [StartGo1] when it is set.
const EnvRuntimeAPI = "FC_RUNTIME_API"

// StartGo1 serves fn under FC's go1 runtime: fc.Start (fc-runtime-go-sdk fc/entry.go) takes
// invocations from the runtime API and hands fn the raw payload, with the invocation read
// from fccontext. A failure is posted to the runtime API's /error as an [ErrorBody] with
// [ErrorType] of fn's error. It never returns; call it only when EnvRuntimeAPI is set
// (fc.Start exits the process otherwise).
func StartGo1[R any](fn Func[R]) {
	fc.Start(func(ctx context.Context, payload []byte) (R, error) {
		fctx, _ := fccontext.FromContext(ctx)
		if fctx == nil {
			fctx = &fccontext.FcContext{}
		}
		inv := Invocation{
			RequestID: fctx.RequestID,
			Credentials: aliyun.Credentials{
				AccessKeyID:     fctx.Credentials.AccessKeyId,
				AccessKeySecret: fctx.Credentials.AccessKeySecret,
				SecurityToken:   fctx.Credentials.SecurityToken,
			},
			Timeout:      time.Duration(fctx.Function.Timeout) * time.Second,
			FunctionName: fctx.Function.Name,
			Region:       fctx.Region,
			AccountID:    fctx.AccountId,
		}
		result, err := fn(ctx, inv, payload)
		if err != nil {
			// Posted to /error as is; any other error type would be reported under its Go
			// type name instead of its errorType (fc-runtime-go-sdk fc/errors.go).
			return result, messages.InvokeResponse_Error{Message: err.Error(), Type: ErrorType(err)}
		}
		return result, nil
	})
}
