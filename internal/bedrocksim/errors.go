package bedrocksim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Exception names as the Bedrock Runtime service spells them on the wire
// (the X-Amzn-ErrorType header and the SDK's error codes).
const (
	ExcAccessDenied         = "AccessDeniedException"
	ExcInternalServer       = "InternalServerException"
	ExcModelError           = "ModelErrorException"
	ExcModelNotReady        = "ModelNotReadyException"
	ExcModelTimeout         = "ModelTimeoutException"
	ExcResourceNotFound     = "ResourceNotFoundException"
	ExcServiceQuotaExceeded = "ServiceQuotaExceededException"
	ExcServiceUnavailable   = "ServiceUnavailableException"
	ExcThrottling           = "ThrottlingException"
	ExcValidation           = "ValidationException"
	// ExcUnknownOperation is not a modelled Bedrock error; it is what AWS
	// front ends answer for a path no operation is bound to. The SDK surfaces
	// it as *smithy.GenericAPIError.
	ExcUnknownOperation = "UnknownOperationException"
)

// exceptionStatus maps each exception to the HTTP status Bedrock uses for it
// (httpError traits of bedrockruntime v1.63.13, see docs/simulator.md).
var exceptionStatus = map[string]int{
	ExcAccessDenied:         http.StatusForbidden,
	ExcInternalServer:       http.StatusInternalServerError,
	ExcModelError:           http.StatusFailedDependency,
	ExcModelNotReady:        http.StatusTooManyRequests,
	ExcModelTimeout:         http.StatusRequestTimeout,
	ExcResourceNotFound:     http.StatusNotFound,
	ExcServiceQuotaExceeded: http.StatusBadRequest,
	ExcServiceUnavailable:   http.StatusServiceUnavailable,
	ExcThrottling:           http.StatusTooManyRequests,
	ExcValidation:           http.StatusBadRequest,
	ExcUnknownOperation:     http.StatusNotFound,
}

// exceptionAliases are the short names accepted by the --fault flag and the
// control API in addition to the full exception names.
var exceptionAliases = map[string]string{
	"throttle":     ExcThrottling,
	"throttling":   ExcThrottling,
	"unavailable":  ExcServiceUnavailable,
	"internal":     ExcInternalServer,
	"timeout":      ExcModelTimeout,
	"notready":     ExcModelNotReady,
	"validation":   ExcValidation,
	"denied":       ExcAccessDenied,
	"modelerror":   ExcModelError,
	"quota":        ExcServiceQuotaExceeded,
	"notfound":     ExcResourceNotFound,
	"accessdenied": ExcAccessDenied,
}

// canonicalException resolves an exception name or alias (case-insensitive)
// to the wire name. ok is false for names the simulator does not know.
func canonicalException(name string) (string, bool) {
	if full, ok := exceptionAliases[strings.ToLower(name)]; ok {
		return full, true
	}
	for full := range exceptionStatus {
		if strings.EqualFold(full, name) {
			return full, true
		}
	}
	return "", false
}

// Messages Bedrock uses for the errors the simulator injects. They only need
// to be plausible: clients must branch on the type, never on the text.
var defaultMessage = map[string]string{
	ExcAccessDenied:         "You don't have access to the model with the specified model ID.",
	ExcInternalServer:       "The system encountered an unexpected error during processing. Try your request again.",
	ExcModelError:           "The model returned an error. Try your request again.",
	ExcModelNotReady:        "The model is not ready to serve inference requests. Try your request again.",
	ExcModelTimeout:         "Model has timed out in processing the request. Try your request again.",
	ExcResourceNotFound:     "The specified resource could not be found.",
	ExcServiceQuotaExceeded: "Your request exceeds the service quota for your account.",
	ExcServiceUnavailable:   "Bedrock is unable to process your request.",
	ExcThrottling:           "Too many requests, please wait before trying again.",
	ExcValidation:           "The request is invalid.",
}

// apiError is an error response the handler sends instead of a result.
type apiError struct {
	Type    string
	Message string
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func newAPIError(typ, msg string) *apiError {
	if msg == "" {
		msg = defaultMessage[typ]
	}
	return &apiError{Type: typ, Message: msg}
}

func validationError(msg string) *apiError { return newAPIError(ExcValidation, msg) }

// status is the HTTP status for the error's type.
func (e *apiError) status() int {
	if s, ok := exceptionStatus[e.Type]; ok {
		return s
	}
	return http.StatusBadRequest
}

// writeAPIError sends e in the restJson1 shape the SDK decodes: the type in
// X-Amzn-ErrorType (which takes precedence over any body field) and a JSON
// body whose only field is "message", as Bedrock itself sends.
func writeAPIError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{e.Message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.Type)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status())
	_, _ = w.Write(body)
}
