package server

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestRateLimitFlags(t *testing.T) {
	base := []string{"--region", "us-east-1", "--listen", "", "--http-listen", "127.0.0.1:0"}
	c, err := ParseFlags(append(base,
		"--region-weights", "us-east-1=3, us-west-2=1",
		"--ratelimit-max-wait", "500ms", "--ratelimit-soft", "0.3",
		"--ratelimit-heartbeat-interval", "1s", "--ratelimit-heartbeat-ttl", "4s",
		"--instance-id", "i-1", "--ratelimit-assumed-instances", "3",
	), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RegionWeights["us-east-1"] != 3 || c.RegionWeights["us-west-2"] != 1 || c.RateLimitMaxWait != 500*time.Millisecond ||
		c.RateLimitSoft != 0.3 || c.HeartbeatTTL != 4*time.Second || c.InstanceID != "i-1" || c.AssumedInstances != 3 {
		t.Fatalf("%+v", c)
	}
	lim, err := newLimiter(c, nil, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if lim.RegionShare() != 0.75 || lim.Instances() != 3 {
		t.Fatalf("region share %g, instances %d", lim.RegionShare(), lim.Instances())
	}

	// Defaults: equal weights over the region and its failover regions.
	c, err = ParseFlags(append(base, "--failover-regions", "us-west-2,eu-west-1"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if lim, err = newLimiter(c, nil, zerolog.Nop(), nil); err != nil || lim.RegionShare() != 1.0/3 {
		t.Fatalf("default weights: %v %v", lim, err)
	}

	// Every problem is reported at once.
	_, err = ParseFlags(append(base,
		"--region-weights", "us-west-2=1", "--ratelimit-soft", "1.5",
		"--ratelimit-heartbeat-interval", "5s", "--ratelimit-heartbeat-ttl", "5s",
	), io.Discard)
	for _, want := range []string{"--region-weights", "--ratelimit-soft", "--ratelimit-heartbeat-ttl"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if _, err := ParseFlags(append(base, "--region-weights", "us-east-1=lots"), io.Discard); err == nil {
		t.Error("a bad weight was accepted")
	}
}
