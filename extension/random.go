package main

// The random draws of the fault decisions. A ChaCha8 generator seeded from the kernel's
// CSPRNG, re-seeded when the environment is restored from a SnapStart snapshot: every
// environment restored from one snapshot starts with the same memory, so without a new
// seed they would all draw the same faults ("Handling uniqueness with Lambda SnapStart",
// https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html).
//
// How the extension learns of a restore: the runtime calls GET /runtime/restore/next,
// which returns once the environment has been restored ("Implementing SnapStart hooks for
// container images", https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-custom.html;
// the managed runtimes' clients make the same call). That call goes through this proxy,
// which re-seeds when it answers.

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"
)

// Random is a goroutine-safe, re-seedable source of draws in [0, 1).
type Random struct {
	mu     sync.Mutex
	gen    *rand.ChaCha8
	source func([]byte) error
	seeds  int
}

// NewRandom seeds from `source` (crypto/rand.Read in the extension, fixed bytes in tests).
func NewRandom(source func([]byte) error) *Random {
	if source == nil {
		source = func(b []byte) error { _, err := crand.Read(b); return err }
	}
	r := &Random{source: source}
	r.Reseed()
	return r
}

// Reseed draws a new seed; the count of seeds is kept for tests and the log.
func (r *Random) Reseed() {
	var seed [32]byte
	_ = r.source(seed[:]) // crypto/rand.Read never fails on Linux (it would crash first)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen = rand.NewChaCha8(seed)
	r.seeds++
}

// Seeds is how many times the generator was seeded.
func (r *Random) Seeds() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seeds
}

// Float64 is a draw in [0, 1).
func (r *Random) Float64() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return float64(r.gen.Uint64()>>11) / (1 << 53)
}
