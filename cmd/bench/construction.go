package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchLine is one result line of `go test -bench BenchmarkConstruction` (program/construction_test.go):
// the instance count and the nanoseconds per construction of all of them.
var benchLine = regexp.MustCompile(`^BenchmarkConstruction/apps=(\d+)\S*\s+\d+\s+(\d+) ns/op`)

// construction times the program's construction of 1, 10 and 50 app instances in one stack under
// Pulumi mocks, once per run, and returns the samples by instance count.
func (b *bench) construction(ctx context.Context) (map[int][]time.Duration, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkConstruction$",
		"-benchtime", "5x", "-count", strconv.Itoa(b.runs), "./program")
	cmd.Dir, cmd.Stderr = b.tools.Root, os.Stderr
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, b.log)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench BenchmarkConstruction: %w\n%s", err, out.String())
	}
	return parseConstruction(out.String())
}

// parseConstruction reads the samples from the benchmark's output.
func parseConstruction(output string) (map[int][]time.Duration, error) {
	samples := map[int][]time.Duration{}
	for line := range strings.Lines(output) {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		apps, _ := strconv.Atoi(m[1]) // the pattern admits digits only
		ns, _ := strconv.ParseInt(m[2], 10, 64)
		samples[apps] = append(samples[apps], time.Duration(ns))
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("go test -bench BenchmarkConstruction printed no result:\n%s", output)
	}
	return samples, nil
}

// printConstruction writes the construction table: the median time for each instance count and what
// one instance costs at that count, which stays flat when construction grows linearly.
func printConstruction(w io.Writer, samples map[int][]time.Duration) {
	fmt.Fprintln(w, "\n| app instances in one stack | construction under mocks | per instance |")
	fmt.Fprintln(w, "|---|---|---|")
	counts := slices.Sorted(maps.Keys(samples))
	for _, n := range counts {
		m := median(samples[n])
		fmt.Fprintf(w, "| %d | %.0f ms | %.1f ms |\n", n, float64(m.Microseconds())/1000, float64(m.Microseconds())/1000/float64(n))
	}
}
