package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Call is one Bedrock Runtime call as Tollgate forwards it.
type Call struct {
	Op    Operation
	Model string
	Body  []byte
	// Header holds only the headers allowed upstream (see upstreamHeader).
	Header http.Header
}

// Upstream sends calls to Bedrock.
type Upstream interface {
	// Do sends the call and returns Bedrock's response, whose body the
	// caller streams and closes, and the region that served it.
	Do(ctx context.Context, c *Call) (*http.Response, string, error)
}

// Bedrock is an Upstream for one region's Bedrock Runtime endpoint.
type Bedrock struct {
	// Region is the AWS region; it is also the SigV4 signing region.
	Region string
	// Endpoint is the base URL; empty means
	// https://bedrock-runtime.<Region>.amazonaws.com.
	Endpoint string
	// Credentials sign requests (the default chain in production).
	Credentials aws.CredentialsProvider
	// Client sends requests; nil means a client tuned for long streams.
	Client *http.Client

	base   *url.URL
	signer *v4.Signer
}

// NewBedrock validates b and prepares it for use.
func NewBedrock(b Bedrock) (*Bedrock, error) {
	if b.Region == "" {
		return nil, fmt.Errorf("upstream: region is required")
	}
	if b.Endpoint == "" {
		b.Endpoint = "https://bedrock-runtime." + b.Region + ".amazonaws.com"
	}
	u, err := url.Parse(strings.TrimRight(b.Endpoint, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("upstream %s: bad endpoint %q", b.Region, b.Endpoint)
	}
	if b.Credentials == nil {
		return nil, fmt.Errorf("upstream %s: credentials are required", b.Region)
	}
	if b.Client == nil {
		b.Client = NewHTTPClient()
	}
	b.base = u
	b.signer = v4.NewSigner()
	return &b, nil
}

// NewHTTPClient returns an HTTP client for Bedrock: pooled keep-alive
// connections, bounded dial and header waits, and no overall timeout, since a
// stream may legitimately run for many minutes (the caller's context bounds
// each call).
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0 // Bedrock may think for a long time before the first byte.
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}

// Do signs the call with SigV4 for service "bedrock" and sends it.
func (b *Bedrock) Do(ctx context.Context, c *Call) (*http.Response, string, error) {
	escaped := "/model/" + rules.EscapeModelID(c.Model) + "/" + c.Op.PathSuffix()
	u := *b.base
	u.Path = b.base.Path + "/model/" + c.Model + "/" + c.Op.PathSuffix()
	u.RawPath = b.base.EscapedPath() + escaped
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(c.Body))
	if err != nil {
		return nil, b.Region, err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.ContentLength = int64(len(c.Body))
	creds, err := b.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, b.Region, fmt.Errorf("upstream %s: credentials: %w", b.Region, err)
	}
	sum := sha256.Sum256(c.Body)
	if err := b.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", b.Region, time.Now()); err != nil {
		return nil, b.Region, fmt.Errorf("upstream %s: sign: %w", b.Region, err)
	}
	resp, err := b.Client.Do(req)
	return resp, b.Region, err
}

// upstreamHeader copies the client headers Bedrock understands: the
// content negotiation headers and every X-Amzn-Bedrock-* header (trace,
// guardrails, performance config, service tier, request metadata). Nothing
// else goes upstream: in particular never the client's Authorization.
func upstreamHeader(in http.Header) http.Header {
	out := make(http.Header, 4)
	for k, v := range in {
		if k == "Content-Type" || k == "Accept" || strings.HasPrefix(k, "X-Amzn-Bedrock-") {
			out[k] = v
		}
	}
	return out
}

// copyResponseHeader copies the Bedrock response headers a client may see.
func copyResponseHeader(dst, src http.Header) {
	for k, v := range src {
		if k == "Content-Type" || k == "X-Amzn-Requestid" || k == "X-Amzn-Errortype" || k == "Retry-After" || strings.HasPrefix(k, "X-Amzn-Bedrock-") {
			dst[k] = v
		}
	}
}
