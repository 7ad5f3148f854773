package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseConstruction(t *testing.T) {
	output := `goos: linux
BenchmarkConstruction/apps=1-2         	       5	   9021467 ns/op	         9.021 ms/app
BenchmarkConstruction/apps=10-2        	       5	  69677114 ns/op	         6.968 ms/app
BenchmarkConstruction/apps=1-2         	       5	   8000000 ns/op	         8.000 ms/app
PASS
`
	samples, err := parseConstruction(output)
	if err != nil {
		t.Fatal(err)
	}
	if got := samples[1]; len(got) != 2 || got[0] != 9021467*time.Nanosecond || got[1] != 8*time.Millisecond {
		t.Errorf("apps=1 samples %v, want [9.021467ms 8ms]", got)
	}
	if got := samples[10]; len(got) != 1 || got[0] != 69677114*time.Nanosecond {
		t.Errorf("apps=10 samples %v, want [69.677114ms]", got)
	}
	var table bytes.Buffer
	printConstruction(&table, samples)
	for _, want := range []string{"| 1 | 9 ms | 8.5 ms |", "| 10 | 70 ms | 7.0 ms |"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if _, err := parseConstruction("PASS\n"); err == nil {
		t.Error("an output without results parsed")
	}
}
