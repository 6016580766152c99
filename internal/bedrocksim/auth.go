package bedrocksim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	signingName    = "bedrock"
	amzDateLayout  = "20060102T150405Z"
	// maxClockSkew is how far X-Amz-Date may be from now when signatures
	// are verified, as in AWS.
	maxClockSkew = 15 * time.Minute
)

// sigV4Auth is a parsed SigV4 Authorization header.
type sigV4Auth struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// parseSigV4 parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex". The message of a failure is the one AWS
// front ends use for that kind of problem.
func parseSigV4(h string) (sigV4Auth, *apiError) {
	if h == "" {
		return sigV4Auth{}, newAPIError(ExcAccessDenied, "Missing Authentication Token")
	}
	alg, rest, _ := strings.Cut(h, " ")
	if alg != sigV4Algorithm {
		if strings.EqualFold(alg, "Bearer") {
			return sigV4Auth{}, newAPIError(ExcAccessDenied, "Bearer token authentication is not accepted by this endpoint.")
		}
		return sigV4Auth{}, newAPIError(ExcAccessDenied, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	var a sigV4Auth
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" {
		return a, newAPIError(ExcAccessDenied, "Authorization header requires 'Credential' parameter.")
	}
	if params["SignedHeaders"] == "" {
		return a, newAPIError(ExcAccessDenied, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if params["Signature"] == "" {
		return a, newAPIError(ExcAccessDenied, "Authorization header requires 'Signature' parameter.")
	}
	a = sigV4Auth{
		AccessKeyID:   scope[0],
		Date:          scope[1],
		Region:        scope[2],
		Service:       scope[3],
		SignedHeaders: strings.Split(params["SignedHeaders"], ";"),
		Signature:     params["Signature"],
	}
	return a, nil
}

// checkScope is the check every request gets: a SigV4 header whose
// credential scope names this region and the bedrock service, and an
// X-Amz-Date on the scope's day. It mirrors what makes real Bedrock refuse a
// request signed for another region, without needing the secret key.
func checkScope(r *http.Request, region string) (sigV4Auth, *apiError) {
	a, e := parseSigV4(r.Header.Get("Authorization"))
	if e != nil {
		return a, e
	}
	if a.Region != region {
		return a, newAPIError(ExcAccessDenied, "Credential should be scoped to a valid region. ")
	}
	if a.Service != signingName {
		return a, newAPIError(ExcAccessDenied, "Credential should be scoped to correct service: 'bedrock'. ")
	}
	d := r.Header.Get("X-Amz-Date")
	if _, err := time.Parse(amzDateLayout, d); err != nil || !strings.HasPrefix(d, a.Date) {
		return a, newAPIError(ExcAccessDenied, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
	}
	return a, nil
}

// verifySignature recomputes the request's signature with the SDK's own
// signer from the headers the client says it signed, and compares it.
func verifySignature(ctx context.Context, r *http.Request, body []byte, a sigV4Auth, secret string, now time.Time) *apiError {
	signingTime, _ := time.Parse(amzDateLayout, r.Header.Get("X-Amz-Date"))
	if d := now.Sub(signingTime); d > maxClockSkew || d < -maxClockSkew {
		return newAPIError(ExcAccessDenied, "Signature expired: the request time is too far from the server time.")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme: scheme, Host: r.Host,
			Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery,
		},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, h := range a.SignedHeaders {
		switch h {
		case "host": // the signer takes it from req.Host
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			req.Header[textproto.CanonicalMIMEHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{
		AccessKeyID:     a.AccessKeyID,
		SecretAccessKey: secret,
		SessionToken:    r.Header.Get("X-Amz-Security-Token"),
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingName, a.Region, signingTime); err != nil {
		return newAPIError(ExcAccessDenied, "The request signature could not be computed.")
	}
	want, e := parseSigV4(req.Header.Get("Authorization"))
	if e != nil || !hmac.Equal([]byte(want.Signature), []byte(a.Signature)) {
		return newAPIError(ExcAccessDenied, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}
