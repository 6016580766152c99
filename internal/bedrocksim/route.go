package bedrocksim

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Operation names, as the SDK and CloudTrail name them.
const (
	OpConverse                      = "Converse"
	OpConverseStream                = "ConverseStream"
	OpInvokeModel                   = "InvokeModel"
	OpInvokeModelWithResponseStream = "InvokeModelWithResponseStream"
)

// opBySuffix maps the last path segment to its operation.
var opBySuffix = map[string]string{
	"converse":                    OpConverse,
	"converse-stream":             OpConverseStream,
	"invoke":                      OpInvokeModel,
	"invoke-with-response-stream": OpInvokeModelWithResponseStream,
}

// ErrUnknownOperation reports a path that names no supported operation.
var ErrUnknownOperation = errors.New("unknown operation")

// ParseModelPath splits an escaped request path (r.URL.EscapedPath()) of the
// form /model/{modelId}/{op} into the unescaped model ID and the operation
// name. It must see the escaped form: the SDK escapes "/" in the model ID as
// %2F (inference-profile ARNs contain one), which r.URL.Path would already
// have turned into a separator.
func ParseModelPath(escapedPath string) (modelID, op string, err error) {
	parts := strings.Split(escapedPath, "/")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "model" || parts[2] == "" {
		return "", "", ErrUnknownOperation
	}
	op, ok := opBySuffix[parts[3]]
	if !ok {
		return "", "", ErrUnknownOperation
	}
	modelID, err = url.PathUnescape(parts[2])
	if err != nil || modelID == "" {
		return "", "", ErrUnknownOperation
	}
	return modelID, op, nil
}

var (
	// A foundation-model or system inference-profile ID: optional geography
	// prefix, a known provider, then the model name and version.
	modelIDRE = regexp.MustCompile(`^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?` +
		`(anthropic|amazon|meta|mistral|cohere|ai21|deepseek)\.[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	// A Bedrock ARN the runtime accepts as modelId. Foundation-model ARNs
	// have an empty account field.
	modelARNRE = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:bedrock:([a-z0-9-]+):([0-9]{12})?:` +
		`(foundation-model|inference-profile|application-inference-profile|provisioned-model|custom-model-deployment|imported-model)/` +
		`([A-Za-z0-9][A-Za-z0-9._:-]*)$`)
)

// model is a resolved modelId.
type model struct {
	ID       string // as sent by the client
	Provider string // "anthropic", "amazon", ... ("" when the ARN hides it)
	Base     string // foundation-model ID without geography prefix, if known
}

// resolveModel checks a model ID the way the simulator documents: known
// providers with an optional geography prefix, or a Bedrock ARN of this
// region. Anything else is the ValidationException Bedrock answers for an
// invalid model identifier.
func resolveModel(id, region string) (model, *apiError) {
	invalid := validationError("The provided model identifier is invalid.")
	if m := modelARNRE.FindStringSubmatch(id); m != nil {
		if m[1] != region {
			return model{}, invalid
		}
		if m[3] == "foundation-model" && m[2] != "" || m[3] != "foundation-model" && m[2] == "" {
			return model{}, invalid
		}
		res := model{ID: id}
		// The resource name of foundation models and system inference
		// profiles is itself a model ID, which tells the provider.
		if sm := modelIDRE.FindStringSubmatch(m[4]); sm != nil && (m[3] == "foundation-model" || m[3] == "inference-profile") {
			res.Provider = sm[1]
			res.Base = stripGeo(m[4])
		}
		return res, nil
	}
	if m := modelIDRE.FindStringSubmatch(id); m != nil {
		return model{ID: id, Provider: m[1], Base: stripGeo(id)}, nil
	}
	return model{}, invalid
}

func stripGeo(id string) string {
	first, rest, ok := strings.Cut(id, ".")
	if ok && strings.Contains(rest, ".") {
		switch first {
		case "us", "eu", "apac", "global", "us-gov", "jp", "au", "ca":
			return rest
		}
	}
	return id
}
