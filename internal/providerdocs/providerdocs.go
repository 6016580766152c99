// Package providerdocs generates the Terraform provider's documentation
// from its schema, in the layout the Terraform Registry and tfplugindocs
// use: docs/index.md, docs/resources/<name>.md, docs/data-sources/<name>.md,
// each with the examples under examples/ (provider/provider.tf,
// resources/<type>/resource.tf and import.sh, data-sources/<type>/data-source.tf).
//
// It asks the provider for its schema over the plugin protocol, exactly as
// Terraform does, so the documentation cannot disagree with what the
// provider accepts; `make check` regenerates it and fails when the
// committed copy differs.
package providerdocs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Generate writes the documentation of the provider served by server into
// docsDir, reading examples from examplesDir. name is the provider's type
// name ("tollgate").
func Generate(ctx context.Context, server tfprotov6.ProviderServer, name, examplesDir, docsDir string) error {
	resp, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		return err
	}
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			return fmt.Errorf("provider schema: %s: %s", d.Summary, d.Detail)
		}
	}
	files := map[string]string{}
	files["index.md"] = page(pageInput{
		title: name + " Provider", heading: name + " Provider", schema: resp.Provider,
		example: readExample(examplesDir, "provider", "provider.tf"),
	})
	for typ, s := range resp.ResourceSchemas {
		files[filepath.Join("resources", strings.TrimPrefix(typ, name+"_")+".md")] = page(pageInput{
			title: typ + " Resource - " + name, heading: typ + " (Resource)", schema: s,
			example:    readExample(examplesDir, "resources", typ, "resource.tf"),
			importText: readExample(examplesDir, "resources", typ, "import.sh"),
		})
	}
	for typ, s := range resp.DataSourceSchemas {
		files[filepath.Join("data-sources", strings.TrimPrefix(typ, name+"_")+".md")] = page(pageInput{
			title: typ + " Data Source - " + name, heading: typ + " (Data Source)", schema: s,
			example: readExample(examplesDir, "data-sources", typ, "data-source.tf"),
		})
	}
	if err := os.RemoveAll(docsDir); err != nil {
		return err
	}
	for rel, content := range files {
		p := filepath.Join(docsDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func readExample(parts ...string) string {
	b, err := os.ReadFile(filepath.Join(parts...))
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(b), "\n")
}

type pageInput struct {
	title, heading      string
	schema              *tfprotov6.Schema
	example, importText string
}

func page(in pageInput) string {
	var b strings.Builder
	desc := ""
	if in.schema != nil && in.schema.Block != nil {
		desc = strings.TrimSpace(in.schema.Block.Description)
	}
	fmt.Fprintf(&b, "---\npage_title: %q\ndescription: |-\n  %s\n---\n\n", in.title, strings.ReplaceAll(desc, "\n", "\n  "))
	fmt.Fprintf(&b, "# %s\n\n", in.heading)
	if desc != "" {
		fmt.Fprintf(&b, "%s\n\n", desc)
	}
	if in.example != "" {
		fmt.Fprintf(&b, "## Example Usage\n\n```terraform\n%s\n```\n\n", in.example)
	}
	b.WriteString("<!-- generated from the provider schema by cmd/provider-docs; do not edit -->\n## Schema\n\n")
	if in.schema != nil && in.schema.Block != nil {
		var nested []nestedSection
		writeAttributes(&b, in.schema.Block.Attributes, "", &nested)
		for i := 0; i < len(nested); i++ { // nested may grow while we walk it
			n := nested[i]
			fmt.Fprintf(&b, "<a id=%q></a>\n### Nested Schema for `%s`\n\n", anchor(n.path), n.path)
			writeAttributes(&b, n.object.Attributes, n.path, &nested)
		}
	}
	if in.importText != "" {
		fmt.Fprintf(&b, "## Import\n\nImport is supported using the following syntax:\n\n```shell\n%s\n```\n", in.importText)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

type nestedSection struct {
	path   string
	object *tfprotov6.SchemaObject
}

func anchor(path string) string { return "nestedatt--" + strings.ReplaceAll(path, ".", "--") }

// writeAttributes lists attributes in the groups the Registry uses:
// Required, Optional, Read-Only; nested objects get their own section.
func writeAttributes(b *strings.Builder, attrs []*tfprotov6.SchemaAttribute, prefix string, nested *[]nestedSection) {
	groups := []struct {
		title string
		keep  func(a *tfprotov6.SchemaAttribute) bool
	}{
		{"Required", func(a *tfprotov6.SchemaAttribute) bool { return a.Required }},
		{"Optional", func(a *tfprotov6.SchemaAttribute) bool { return a.Optional }},
		{"Read-Only", func(a *tfprotov6.SchemaAttribute) bool { return a.Computed && !a.Optional && !a.Required }},
	}
	sorted := append([]*tfprotov6.SchemaAttribute(nil), attrs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, g := range groups {
		var lines []string
		for _, a := range sorted {
			if !g.keep(a) {
				continue
			}
			path := a.Name
			if prefix != "" {
				path = prefix + "." + a.Name
			}
			line := fmt.Sprintf("- `%s` (%s", a.Name, typeName(a))
			if a.Sensitive {
				line += ", Sensitive"
			}
			if a.Deprecated {
				line += ", Deprecated"
			}
			line += ")"
			if d := strings.TrimSpace(a.Description); d != "" {
				line += " " + d
			}
			if a.NestedType != nil {
				line += fmt.Sprintf(" (see [below for nested schema](#%s))", anchor(path))
				*nested = append(*nested, nestedSection{path: path, object: a.NestedType})
			}
			lines = append(lines, line)
		}
		if len(lines) > 0 {
			fmt.Fprintf(b, "### %s\n\n%s\n\n", g.title, strings.Join(lines, "\n"))
		}
	}
}

func typeName(a *tfprotov6.SchemaAttribute) string {
	if a.NestedType != nil {
		switch a.NestedType.Nesting {
		case tfprotov6.SchemaObjectNestingModeList:
			return "Attributes List"
		case tfprotov6.SchemaObjectNestingModeSet:
			return "Attributes Set"
		case tfprotov6.SchemaObjectNestingModeMap:
			return "Attributes Map"
		default:
			return "Attributes"
		}
	}
	return tfType(a.Type)
}

func tfType(t tftypes.Type) string {
	switch {
	case t == nil:
		return "Dynamic"
	case t.Is(tftypes.String):
		return "String"
	case t.Is(tftypes.Number):
		return "Number"
	case t.Is(tftypes.Bool):
		return "Boolean"
	case t.Is(tftypes.List{}):
		return "List of " + tfType(t.(tftypes.List).ElementType)
	case t.Is(tftypes.Set{}):
		return "Set of " + tfType(t.(tftypes.Set).ElementType)
	case t.Is(tftypes.Map{}):
		return "Map of " + tfType(t.(tftypes.Map).ElementType)
	case t.Is(tftypes.Object{}):
		return "Object"
	}
	return "Dynamic"
}
