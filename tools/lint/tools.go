//go:build tools

// Package lint pins the linters the project runs on files that are not Go:
// the import keeps github.com/rhysd/actionlint in go.mod and go.sum, so
// mk/lint.mk builds exactly this version with
// `go build github.com/rhysd/actionlint/cmd/actionlint` from this directory.
package lint

import _ "github.com/rhysd/actionlint/cmd/actionlint"
