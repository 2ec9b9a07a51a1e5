package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDiskFillIsSharedBoundedAndFreed(t *testing.T) {
	for _, test := range []struct {
		name       string
		free       uint64
		mb, filled int
		err        bool
	}{
		{"fits", 100 * megabyte, 3, 3, false},
		{"bounded by the free space", 2*megabyte + 5, 8, 2, false},
		{"no room at all", megabyte - 1, 1, 0, true},
	} {
		t.Run(test.name, func(t *testing.T) {
			disk := NewDiskFiller(t.TempDir())
			disk.available = func(string) (uint64, error) { return test.free, nil }
			filled, err := disk.Acquire(test.mb)
			if (err != nil) != test.err || filled != test.filled {
				t.Fatalf("filled %d err %v", filled, err)
			}
			if test.err {
				if disk.Holding() != 0 {
					t.Fatal("a failed fill holds a reference")
				}
				return
			}
			again, _ := disk.Acquire(test.mb)
			info, statErr := os.Stat(disk.path())
			if again != test.filled || statErr != nil || info.Size() != int64(test.filled)*megabyte {
				t.Fatalf("second holder %d, file %v %v", again, info, statErr)
			}
			disk.Release()
			if _, err := os.Stat(disk.path()); err != nil {
				t.Fatal("freed while still held")
			}
			disk.Release()
			if _, err := os.Stat(disk.path()); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("not freed by the last holder")
			}
		})
	}
}

func TestFreeAllAndStaleFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, diskFillName)
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	disk := NewDiskFiller(dir)
	disk.RemoveStale()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale fill kept")
	}
	if _, err := disk.Acquire(1); err != nil {
		t.Fatal(err)
	}
	disk.FreeAll()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) || disk.Holding() != 0 {
		t.Fatal("FreeAll left the fill")
	}
}
