package bedrocksim_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

// control sends one control API request and decodes a JSON answer into out
// (when out is non-nil), returning the status.
func control(t *testing.T, sim *bedrocksim.Sim, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, sim.ControlURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func TestControlAPI(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)

	var regions map[string]string
	if control(t, sim, "GET", "/regions", "", &regions) != 200 || regions[usEast1] != sim.URL(usEast1) || len(regions) != 2 {
		t.Errorf("regions = %v", regions)
	}

	var applied bedrocksim.Fault
	st := control(t, sim, "PUT", "/faults/us-east-1", `{"errorRate":1,"exception":"timeout","firstByteDelay":"0s","tokenDelay":2}`, &applied)
	if st != 200 || applied.Exception != "ModelTimeoutException" || applied.TokenDelay != 2e6 {
		t.Fatalf("PUT: %d %+v", st, applied)
	}
	var faults map[string]bedrocksim.Fault
	control(t, sim, "GET", "/faults", "", &faults)
	if faults[usEast1] != applied || faults[usWest2] != (bedrocksim.Fault{}) {
		t.Errorf("faults = %+v", faults)
	}
	_, err := c.Converse(testContext(t), converseIn("hi"))
	var mt *types.ModelTimeoutException
	if !errors.As(err, &mt) {
		t.Errorf("err = %v, want ModelTimeoutException", err)
	}

	var counters map[string]bedrocksim.Counters
	control(t, sim, "GET", "/counters", "", &counters)
	if counters[usEast1] != (bedrocksim.Counters{Requests: 1, Errors: 1}) {
		t.Errorf("counters = %+v", counters)
	}
	if control(t, sim, "POST", "/counters/reset", "", nil) != 204 || sim.Counters(usEast1) != (bedrocksim.Counters{}) {
		t.Error("reset did not zero the counters")
	}

	for _, bad := range []struct{ path, body string }{
		{"/faults/us-east-1", `{"errorRate":2}`},
		{"/faults/us-east-1", `{"errrorRate":0.5}`},
		{"/faults/us-east-1", `{"exception":"Boom"}`},
		{"/faults/us-east-1", `not json`},
	} {
		if st := control(t, sim, "PUT", bad.path, bad.body, nil); st != 400 {
			t.Errorf("PUT %s: %d, want 400", bad.body, st)
		}
	}
	if st := control(t, sim, "PUT", "/faults/eu-west-3", `{}`, nil); st != 404 {
		t.Errorf("unknown region: %d", st)
	}

	if st := control(t, sim, "DELETE", "/faults", "", nil); st != 204 {
		t.Fatalf("DELETE /faults: %d", st)
	}
	if _, err := c.Converse(testContext(t), converseIn("hi")); err != nil {
		t.Fatalf("after DELETE /faults: %v", err)
	}

	// Refuse through the control API, then heal one region.
	control(t, sim, "PUT", "/faults/us-west-2", `{"outage":"refuse"}`, nil)
	host := strings.TrimPrefix(sim.URL(usWest2), "http://")
	if _, err := net.Dial("tcp", host); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v", err)
	}
	if st := control(t, sim, "DELETE", "/faults/us-west-2", "", nil); st != 204 {
		t.Fatalf("DELETE /faults/us-west-2: %d", st)
	}
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	conn.Close()

	// Prompt cache reset: the same cached prefix writes again.
	in := converseIn("question")
	in.System = []types.SystemContentBlock{
		&types.SystemContentBlockMemberText{Value: "long shared prefix"},
		&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
	}
	for i, want := range []string{"write", "read", "reset", "write"} {
		if want == "reset" {
			if st := control(t, sim, "DELETE", "/cache", "", nil); st != 204 {
				t.Fatalf("DELETE /cache: %d", st)
			}
			continue
		}
		out, err := c.Converse(testContext(t), in)
		if err != nil {
			t.Fatal(err)
		}
		w, r := aws.ToInt32(out.Usage.CacheWriteInputTokens), aws.ToInt32(out.Usage.CacheReadInputTokens)
		if want == "write" && (w != 3 || r != 0) || want == "read" && (w != 0 || r != 3) {
			t.Errorf("call %d: write %d read %d, want a %s", i, w, r, want)
		}
	}
}
