package test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-dev/tollgate/internal/stack"
)

// BenchmarkLoad sends the same open-loop load (a fixed request rate,
// independent of how fast answers come back) with the official SDK to the
// simulator directly, through a plain reverse proxy, and through Tollgate,
// interleaved in rounds so that machine noise hits all three alike. It
// reports each target's p50 and p99 latency (measured from the scheduled
// send time, so queueing is not hidden), the ratios Tollgate/direct, and
// DynamoDB write calls per 1,000 requests.
//
//	go test ./test -run '^$' -bench BenchmarkLoad -benchtime 1x
func BenchmarkLoad(b *testing.B) {
	const (
		rate       = 200 // requests per second in the latency rounds
		steadyRate = 400 // requests per second in the write-count phase
		slice      = 2 * time.Second
		rounds     = 3
	)
	s := startStack(b)
	key, _ := newCustomer(b, s, "load")
	region := "us-east-1"
	simURL := s.Sim.URL(region)

	target, _ := url.Parse(simURL)
	rp := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer rp.Close()

	sigv4 := func(endpoint string) *bedrockruntime.Client {
		return bedrockruntime.New(bedrockruntime.Options{
			Region: region, BaseEndpoint: aws.String(endpoint),
			Credentials:      credentials.NewStaticCredentialsProvider(stack.LocalAccessKeyID, stack.LocalSecretKey, ""),
			RetryMaxAttempts: 1,
			HTTPClient:       &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}},
		})
	}
	targets := []struct {
		name   string
		client *bedrockruntime.Client
	}{
		{"direct", sigv4(simURL)},
		{"reverse-proxy", sigv4(rp.URL)},
		{"tollgate", sdkClient(b, s, region, key)},
	}
	lat := make([][]time.Duration, len(targets))
	errs := make([]int, len(targets))
	in := converseInput(model, "load test prompt with a few words", 16)
	ctx := context.Background()
	// Warm connections and caches.
	for _, t := range targets {
		for i := 0; i < 20; i++ {
			_, _ = t.client.Converse(ctx, in)
		}
	}
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		for i, t := range targets {
			l, e := openLoop(ctx, t.client, in, rate, slice)
			lat[i] = append(lat[i], l...)
			errs[i] += e
		}
	}
	b.StopTimer()

	// DynamoDB writes per 1,000 requests at steady load: a longer run
	// through Tollgate alone, counted between two scrapes taken once the
	// load has settled, so no partial flush at a boundary is included.
	ops := s.Region(region).OpsURL
	writeCalls := func() float64 {
		return scrapeSum(b, ops, "tollgate_dynamodb_call_duration_seconds_count", "PutItem", "UpdateItem", "BatchWriteItem")
	}
	usageWrites := func() float64 { return scrapeSum(b, ops, "tollgate_metering_dynamodb_calls_total", "put") }
	requests := func() float64 { return scrapeSum(b, ops, "tollgate_requests_total", "Converse") }
	steady := make(chan struct{})
	go func() {
		defer close(steady)
		_, e := openLoop(ctx, targets[2].client, in, steadyRate, 7*time.Second)
		errs[2] += e
	}()
	time.Sleep(1500 * time.Millisecond)
	w0, u0, r0 := writeCalls(), usageWrites(), requests()
	time.Sleep(5 * time.Second)
	w1, u1, r1 := writeCalls(), usageWrites(), requests()
	<-steady

	q := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[int(float64(len(d)-1)*p)].Microseconds()) / 1000
	}
	p50 := make([]float64, len(targets))
	p99 := make([]float64, len(targets))
	for i, t := range targets {
		if errs[i] > 0 {
			b.Errorf("%s: %d errors", t.name, errs[i])
		}
		p50[i], p99[i] = q(lat[i], .5), q(lat[i], .99)
		b.ReportMetric(p50[i], t.name+"-p50-ms")
		b.ReportMetric(p99[i], t.name+"-p99-ms")
	}
	b.ReportMetric(p50[2]/p50[0], "tollgate/direct-p50")
	b.ReportMetric(p99[2]/p99[0], "tollgate/direct-p99")
	b.ReportMetric(p50[2]/p50[1], "tollgate/proxy-p50")
	// All DynamoDB writes (usage flushes and the rate limiter's instance
	// heartbeats) and the usage writes alone.
	b.ReportMetric((w1-w0)*1000/(r1-r0), "ddb-writes/1k-req")
	b.ReportMetric((u1-u0)*1000/(r1-r0), "usage-writes/1k-req")
}

// openLoop sends rate requests per second for d, each at its scheduled
// time whatever the previous ones are doing, and returns the latencies.
func openLoop(ctx context.Context, c *bedrockruntime.Client, in *bedrockruntime.ConverseInput, rate int, d time.Duration) ([]time.Duration, int) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	out := make([]time.Duration, n)
	var mu sync.Mutex
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			_, err := c.Converse(ctx, in)
			out[i] = time.Since(at)
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		}(i, at)
	}
	wg.Wait()
	return out, errs
}

// scrapeSum adds the values of a Prometheus metric whose labels mention
// one of the given strings.
func scrapeSum(tb testing.TB, opsURL, metric string, labelValues ...string) float64 {
	tb.Helper()
	resp, err := http.Get(opsURL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		for _, v := range labelValues {
			if strings.Contains(line, `"`+v+`"`) {
				f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				sum += f
				break
			}
		}
	}
	return sum
}
