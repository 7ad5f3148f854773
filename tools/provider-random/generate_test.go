package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// generations is how many passwords each case draws: enough that a class
// leaking in or a minimum missed only occasionally would show.
const generations = 300

func TestGeneratePassword(t *testing.T) {
	all := passwordSpec{Lower: true, Upper: true, Numeric: true, Special: true}
	with := func(change func(*passwordSpec)) passwordSpec {
		spec := all
		change(&spec)
		return spec
	}
	tests := []struct {
		name string
		spec passwordSpec
		// allowed is every character the password may hold.
		allowed string
		// atLeast is the minimum count per character set.
		atLeast map[string]int
	}{
		{
			name:    "all classes",
			spec:    with(func(s *passwordSpec) { s.Length = 32 }),
			allowed: lowerChars + upperChars + numericChars + defaultSpecialChars,
		},
		{
			name:    "lower only",
			spec:    passwordSpec{Length: 20, Lower: true},
			allowed: lowerChars,
		},
		{
			name:    "upper only",
			spec:    passwordSpec{Length: 20, Upper: true},
			allowed: upperChars,
		},
		{
			name:    "numeric only",
			spec:    passwordSpec{Length: 20, Numeric: true},
			allowed: numericChars,
		},
		{
			name:    "special only",
			spec:    passwordSpec{Length: 20, Special: true},
			allowed: defaultSpecialChars,
		},
		{
			name:    "no special",
			spec:    with(func(s *passwordSpec) { s.Length = 40; s.Special = false }),
			allowed: lowerChars + upperChars + numericChars,
		},
		{
			name:    "overrideSpecial restricts the special set",
			spec:    with(func(s *passwordSpec) { s.Length = 40; s.OverrideSpecial = "_-"; s.MinSpecial = 3 }),
			allowed: lowerChars + upperChars + numericChars + "_-",
			atLeast: map[string]int{"_-": 3},
		},
		{
			name: "minimums honoured",
			spec: with(func(s *passwordSpec) {
				s.Length = 12
				s.MinLower, s.MinUpper, s.MinNumeric, s.MinSpecial = 3, 3, 3, 3
			}),
			allowed: lowerChars + upperChars + numericChars + defaultSpecialChars,
			atLeast: map[string]int{lowerChars: 3, upperChars: 3, numericChars: 3, defaultSpecialChars: 3},
		},
		{
			name:    "minimum of a disabled class still drawn, as the real provider does",
			spec:    passwordSpec{Length: 10, Lower: true, MinNumeric: 4},
			allowed: lowerChars + numericChars,
			atLeast: map[string]int{numericChars: 4},
		},
		{
			name:    "length one",
			spec:    with(func(s *passwordSpec) { s.Length = 1 }),
			allowed: lowerChars + upperChars + numericChars + defaultSpecialChars,
		},
		{
			name:    "multi-byte overrideSpecial counts characters",
			spec:    passwordSpec{Length: 8, Special: true, OverrideSpecial: "€£"},
			allowed: "€£",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range generations {
				password, err := generatePassword(tt.spec)
				if err != nil {
					t.Fatalf("generatePassword: %v", err)
				}
				if n := utf8.RuneCountInString(password); n != tt.spec.Length {
					t.Fatalf("%q has %d characters, want %d", password, n, tt.spec.Length)
				}
				for _, r := range password {
					if !strings.ContainsRune(tt.allowed, r) {
						t.Fatalf("%q holds %q, outside %q", password, r, tt.allowed)
					}
				}
				for set, minimum := range tt.atLeast {
					if n := countIn(password, set); n < minimum {
						t.Fatalf("%q has %d of %q, want at least %d", password, n, set, minimum)
					}
				}
			}
		})
	}
}

// TestGeneratePasswordUsesEveryEnabledClass guards against a class being
// silently dropped from the pool: over many draws each must show up.
func TestGeneratePasswordUsesEveryEnabledClass(t *testing.T) {
	seen := map[string]bool{}
	for range generations {
		password, err := generatePassword(passwordSpec{Length: 16, Lower: true, Upper: true, Numeric: true, Special: true})
		if err != nil {
			t.Fatalf("generatePassword: %v", err)
		}
		for _, set := range []string{lowerChars, upperChars, numericChars, defaultSpecialChars} {
			seen[set] = seen[set] || countIn(password, set) > 0
		}
	}
	for _, set := range []string{lowerChars, upperChars, numericChars, defaultSpecialChars} {
		if !seen[set] {
			t.Errorf("no password held any of %q", set)
		}
	}
}

// TestGeneratePasswordShufflesMinimums checks that the minimums drawn first
// do not stay at the front.
func TestGeneratePasswordShufflesMinimums(t *testing.T) {
	spec := passwordSpec{Length: 8, Lower: true, MinUpper: 1}
	for range generations {
		password, err := generatePassword(spec)
		if err != nil {
			t.Fatalf("generatePassword: %v", err)
		}
		if countIn(password[:1], upperChars) == 0 {
			return
		}
	}
	t.Errorf("the upper-case minimum was first in all %d passwords", generations)
}

func TestGeneratePasswordRefusesAnEmptyPool(t *testing.T) {
	if _, err := generatePassword(passwordSpec{Length: 4}); err == nil {
		t.Error("generatePassword with every class disabled succeeded, want an error")
	}
}

func countIn(password, set string) int {
	n := 0
	for _, r := range password {
		if strings.ContainsRune(set, r) {
			n++
		}
	}
	return n
}
