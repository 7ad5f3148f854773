package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/bcrypt"
)

// Character classes, as terraform-provider-random defines them.
const (
	lowerChars          = "abcdefghijklmnopqrstuvwxyz"
	upperChars          = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars        = "0123456789"
	defaultSpecialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// bcryptInputLimit is the most bcrypt reads; the real provider documents that
// longer passwords get a hash of their first 72 bytes.
const bcryptInputLimit = 72

// generatePassword draws each class's minimum first and fills the rest from
// the union of enabled classes, then shuffles so the minimums are not grouped.
// Like the real provider, a class's minimum is honoured even when the class is
// disabled: upper=false with minUpper=2 still yields two upper-case letters.
func generatePassword(spec passwordSpec) (string, error) {
	special := defaultSpecialChars
	if spec.OverrideSpecial != "" {
		special = spec.OverrideSpecial
	}

	password := make([]rune, 0, spec.Length)
	for _, minimum := range []struct {
		chars string
		count int
	}{
		{upperChars, spec.MinUpper},
		{lowerChars, spec.MinLower},
		{numericChars, spec.MinNumeric},
		{special, spec.MinSpecial},
	} {
		drawn, err := drawRunes([]rune(minimum.chars), minimum.count)
		if err != nil {
			return "", err
		}
		password = append(password, drawn...)
	}

	var pool []rune
	for _, class := range []struct {
		enabled bool
		chars   string
	}{
		{spec.Upper, upperChars},
		{spec.Lower, lowerChars},
		{spec.Numeric, numericChars},
		{spec.Special, special},
	} {
		if class.enabled {
			pool = append(pool, []rune(class.chars)...)
		}
	}
	rest := spec.Length - len(password)
	if rest > 0 && len(pool) == 0 {
		return "", errors.New("no character class is enabled to fill the password")
	}
	drawn, err := drawRunes(pool, rest)
	if err != nil {
		return "", err
	}
	password = append(password, drawn...)

	if err := shuffle(password); err != nil {
		return "", err
	}
	return string(password), nil
}

func drawRunes(chars []rune, count int) ([]rune, error) {
	drawn := make([]rune, 0, max(count, 0))
	for range count {
		i, err := randomIndex(len(chars))
		if err != nil {
			return nil, err
		}
		drawn = append(drawn, chars[i])
	}
	return drawn, nil
}

// shuffle is a Fisher-Yates shuffle driven by crypto/rand.
func shuffle(runes []rune) error {
	for i := len(runes) - 1; i > 0; i-- {
		j, err := randomIndex(i + 1)
		if err != nil {
			return err
		}
		runes[i], runes[j] = runes[j], runes[i]
	}
	return nil
}

func randomIndex(n int) (int, error) {
	if n <= 0 {
		return 0, errors.New("cannot draw from an empty character set")
	}
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, fmt.Errorf("reading random numbers: %w", err)
	}
	return int(i.Int64()), nil
}

// hashPassword returns the bcrypt hash the real provider stores as bcryptHash.
func hashPassword(password string) (string, error) {
	hashed := []byte(password)
	if len(hashed) > bcryptInputLimit {
		hashed = hashed[:bcryptInputLimit]
	}
	hash, err := bcrypt.GenerateFromPassword(hashed, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hashing the password with bcrypt: %w", err)
	}
	return string(hash), nil
}
