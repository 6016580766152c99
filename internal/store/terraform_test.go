package store

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestTerraformTablesMatchDefinitions keeps terraform/modules/tables, which
// creates the tables in AWS, in step with Definitions, which creates them
// locally: same keys, attributes, index and TTL attribute.
func TestTerraformTablesMatchDefinitions(t *testing.T) {
	b, err := os.ReadFile("../../terraform/modules/tables/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	tf := string(b)
	find := func(re string) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(tf, -1) {
			out = append(out, m[1])
		}
		return out
	}
	def := TableNames("x-").Definitions()[0]
	var attrs []string
	for _, a := range def.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName))
	}
	tfAttrs := find(`attribute \{\s*name\s*=\s*"([^"]+)"\s*type\s*=\s*"S"`)
	slices.Sort(attrs)
	slices.Sort(tfAttrs)
	if !slices.Equal(attrs, tfAttrs) {
		t.Errorf("attributes: Go %v, Terraform %v", attrs, tfAttrs)
	}
	want := map[string]string{
		`(?m)^  hash_key\s*=\s*"([^"]+)"`:                  aws.ToString(def.KeySchema[0].AttributeName),
		`(?m)^  range_key\s*=\s*"([^"]+)"`:                 aws.ToString(def.KeySchema[1].AttributeName),
		`global_secondary_index \{\s*name\s*=\s*"([^"]+)"`: IndexGSI1,
		`(?m)^    hash_key\s*=\s*"([^"]+)"`:                aws.ToString(def.GlobalSecondaryIndexes[0].KeySchema[0].AttributeName),
		`(?m)^    range_key\s*=\s*"([^"]+)"`:               aws.ToString(def.GlobalSecondaryIndexes[0].KeySchema[1].AttributeName),
		`attribute_name\s*=\s*"([^"]+)"`:                   AttrExpiresAt,
		`stream_view_type\s*=\s*"([^"]+)"`:                 string(def.StreamSpecification.StreamViewType),
	}
	for re, w := range want {
		if got := find(re); len(got) != 1 || got[0] != w {
			t.Errorf("%s: Terraform has %v, Go %q", re, got, w)
		}
	}
	for _, name := range []string{`"${var.prefix}config"`, `"${var.prefix}usage"`} {
		if !regexp.MustCompile(regexp.QuoteMeta(name)).MatchString(tf) {
			t.Errorf("table %s missing", name)
		}
	}
	if n := TableNames("p-"); n.Config != "p-config" || n.Usage != "p-usage" {
		t.Errorf("names %+v", n)
	}
}
