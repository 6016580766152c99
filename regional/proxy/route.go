// Package proxy is Tollgate's Bedrock-compatible data plane: it routes the
// four Bedrock Runtime operations at Bedrock's own paths, authenticates the
// caller's key, forwards the call to Bedrock signed with SigV4, streams the
// answer back frame by frame, and meters the exact usage Bedrock reports.
package proxy

import (
	"errors"
	"net/url"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Operation is a Bedrock Runtime operation.
type Operation uint8

// The operations Tollgate serves.
const (
	OpUnknown Operation = iota
	OpConverse
	OpConverseStream
	OpInvokeModel
	OpInvokeModelWithResponseStream
)

var opNames = [...]string{"Unknown", "Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
var opSuffixes = [...]string{"", "converse", "converse-stream", "invoke", "invoke-with-response-stream"}

func (o Operation) String() string { return opNames[o] }

// PathSuffix is the last path segment of the operation.
func (o Operation) PathSuffix() string { return opSuffixes[o] }

// Streaming reports whether the operation answers with an event stream.
func (o Operation) Streaming() bool {
	return o == OpConverseStream || o == OpInvokeModelWithResponseStream
}

// Errors of ParseRoute.
var (
	ErrUnknownOperation = errors.New("unknown operation")
	ErrBadModelID       = errors.New("bad model id")
)

// ParseRoute parses a request's escaped path (r.URL.EscapedPath()) into an
// operation and an unescaped, validated model id. The model id is
// everything between "/model/" and the last '/', so both the SDK's form
// (an ARN's '/' escaped as %2F) and a hand-written unescaped ARN work.
func ParseRoute(escapedPath string) (Operation, string, error) {
	const prefix = "/model/"
	if !strings.HasPrefix(escapedPath, prefix) {
		return OpUnknown, "", ErrUnknownOperation
	}
	rest := escapedPath[len(prefix):]
	slash := strings.LastIndexByte(rest, '/')
	if slash <= 0 {
		return OpUnknown, "", ErrUnknownOperation
	}
	var op Operation
	switch rest[slash+1:] {
	case "converse":
		op = OpConverse
	case "converse-stream":
		op = OpConverseStream
	case "invoke":
		op = OpInvokeModel
	case "invoke-with-response-stream":
		op = OpInvokeModelWithResponseStream
	default:
		return OpUnknown, "", ErrUnknownOperation
	}
	model, err := url.PathUnescape(rest[:slash])
	if err != nil {
		return op, "", ErrBadModelID
	}
	if rules.ValidateModelID(model) != nil {
		return op, "", ErrBadModelID
	}
	return op, model, nil
}
