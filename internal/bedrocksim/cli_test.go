package bedrocksim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

func TestMain_Run(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- bedrocksim.Main(ctx, []string{
			"--regions", "us-east-1,eu-central-1",
			"--fault", "us-east-1=throttle:1",
			"--fault", "eu-central-1=delay=0s",
			"--tls", "--ca-out", caFile,
		}, outW, &syncWriter{w: &stderr})
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("banner: %v (main: %v)", err, <-done)
	}
	go io.Copy(io.Discard, outR)
	var banner bedrocksim.Banner
	if err := json.Unmarshal([]byte(line), &banner); err != nil {
		t.Fatalf("banner %q: %v", line, err)
	}
	if !banner.TLS || len(banner.Regions) != 2 || !strings.HasPrefix(banner.Control, "http://") {
		t.Fatalf("banner = %+v", banner)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("ca file: %v", err)
	}

	// A client in "another process": it only knows the banner and the PEM.
	httpClient := tlsClientFromPEM(t, pem)
	mk := func(region string) *bedrockruntime.Client {
		return bedrockruntime.New(bedrockruntime.Options{
			Region: region, BaseEndpoint: aws.String(banner.Regions[region]),
			Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecre, ""),
			HTTPClient:  httpClient, Retryer: aws.NopRetryer{},
		})
	}
	_, err = mk(usEast1).Converse(testContext(t), converseIn("hi"))
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Errorf("us-east-1: err = %v, want ThrottlingException", err)
	}
	if _, err := mk("eu-central-1").Converse(testContext(t), converseIn("hi")); err != nil {
		t.Errorf("eu-central-1: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Main: %v", err)
	}
	if !strings.Contains(stderr.String(), `"region":"us-east-1"`) || !strings.Contains(stderr.String(), `"error":"ThrottlingException"`) {
		t.Errorf("log lacks the request line:\n%s", stderr.String())
	}
}

func TestMain_ConsoleBanner(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- bedrocksim.Main(ctx, []string{"--regions", "us-east-2", "--log-format", "console"}, outW, io.Discard)
		outW.Close()
	}()
	r := bufio.NewReader(outR)
	first, _ := r.ReadString('\n')
	second, _ := r.ReadString('\n')
	cancel()
	go io.Copy(io.Discard, outR)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first, "us-east-2") || !strings.Contains(first, "http://127.0.0.1:") || !strings.HasPrefix(second, "control") {
		t.Errorf("banner:\n%s%s", first, second)
	}
}

func TestMain_FlagErrors(t *testing.T) {
	var stderr strings.Builder
	err := bedrocksim.Main(t.Context(), []string{
		"--regions", "us-east-1,nowhere",
		"--fault", "us-east-1=throttle:7",
		"--fault", "eu-west-1=refuse",
		"--fault", "noequals",
		"--log-format", "xml",
		"--ca-out", "x.pem",
		"--port-base", "-3",
	}, io.Discard, &stderr)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"nowhere"`, "throttle:7", `"eu-west-1" is not served`, "noequals", "xml", "--ca-out needs --tls", "--port-base"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := bedrocksim.Main(t.Context(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
