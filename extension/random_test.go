package main

import "testing"

func TestDrawsAreInRangeAndReseedingChangesThem(t *testing.T) {
	seed := byte(1)
	source := func(b []byte) error {
		for index := range b {
			b[index] = seed
		}
		return nil
	}
	random := NewRandom(source)
	first := []float64{random.Float64(), random.Float64(), random.Float64()}
	for _, draw := range first {
		if draw < 0 || draw >= 1 {
			t.Fatalf("draw %v", draw)
		}
	}
	same := NewRandom(source)
	if same.Float64() != first[0] {
		t.Fatal("the same seed gives other draws")
	}
	seed = 2 // a restored snapshot: the kernel's CSPRNG gives a new seed
	random.Reseed()
	if random.Float64() == first[0] || random.Seeds() != 2 {
		t.Fatal("re-seeding did not change the draws")
	}
}
