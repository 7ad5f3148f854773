// Package deploycli is the pipeline command's interface as data: its commands and the flags each takes.
// cmd/deploy parses its arguments with it, and internal/workflowcheck checks every invocation in the
// CI workflow against it, so the two cannot drift apart.
package deploycli

// Commands lists the flags (without their dashes) each command accepts: deploy refuses a flag given
// to the wrong command rather than ignore it, and the workflow's tests refuse an invocation deploy
// would refuse.
var Commands = map[string][]string{
	"preview":  {"diff", "expect-no-changes", "json", "summary-file", "policy-report"},
	"up":       {"allow-destructive", "confirm", "verify"},
	"refresh":  {"expect-no-changes"},
	"destroy":  {"confirm"},
	"outputs":  {"json", "show-secrets"},
	"render":   {"out", "include-secrets"},
	"recover":  {},
	"cancel":   {},
	"backup":   {"out", "overwrite"},
	"restore":  {"from", "confirm"},
	"drift":    {"json", "summary-file"},
	"rollback": {"to", "allow-destructive", "confirm"},
}

// CommonFlags apply to every command.
var CommonFlags = []string{"secrets-provider", "cluster"}
