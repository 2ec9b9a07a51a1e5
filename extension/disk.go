package main

// The disk fault: while a handler that drew it runs, one file fills the function's /tmp by
// the configured megabytes (never more than the space left: the function's ephemeral
// storage bounds it, "Configure ephemeral storage for Lambda functions",
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html).
// Concurrent invocations share the one file (a reference count). The file is removed when
// the last such invocation has answered, at expiry, at SHUTDOWN, and at start-up (a file
// left by a crashed extension).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

const (
	diskFillName = ".gameday-chaos-disk-fill"
	megabyte     = 1 << 20
)

// DiskFiller holds the fill file of one execution environment.
type DiskFiller struct {
	mu       sync.Mutex
	dir      string
	refs     int
	filledMB int
	// available returns the bytes free for an unprivileged writer in dir (statfs).
	available func(dir string) (uint64, error)
}

func NewDiskFiller(dir string) *DiskFiller {
	return &DiskFiller{dir: dir, available: availableBytes}
}

func (d *DiskFiller) path() string { return filepath.Join(d.dir, diskFillName) }

// Acquire makes sure the fill exists (filling up to mb megabytes, bounded by the free
// space) and returns the megabytes the file holds.
func (d *DiskFiller) Acquire(mb int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refs++
	if d.refs > 1 {
		return d.filledMB, nil
	}
	filled, err := d.fill(mb)
	if err != nil {
		d.refs--
		_ = os.Remove(d.path())
		return 0, err
	}
	d.filledMB = filled
	return filled, nil
}

// Release drops one reference; the last one removes the file.
func (d *DiskFiller) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refs == 0 {
		return
	}
	d.refs--
	if d.refs == 0 {
		d.removeLocked()
	}
}

// FreeAll removes the file whatever holds it (expiry, SHUTDOWN).
func (d *DiskFiller) FreeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refs == 0 && d.filledMB == 0 {
		return // nothing filled: no file-system call on the hot path past expiry
	}
	d.refs = 0
	d.removeLocked()
}

// RemoveStale removes a fill file an earlier extension process left behind.
func (d *DiskFiller) RemoveStale() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removeLocked()
}

// Holding reports the references held (for tests).
func (d *DiskFiller) Holding() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refs
}

func (d *DiskFiller) removeLocked() {
	d.filledMB = 0
	if err := os.Remove(d.path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.filledMB = -1 // could not remove it: FreeAll tries again
	}
}

func (d *DiskFiller) fill(mb int) (int, error) {
	free, err := d.available(d.dir)
	if err != nil {
		return 0, fmt.Errorf("cannot read the free space of %s: %w", d.dir, err)
	}
	size := uint64(mb) * megabyte
	if size > free {
		size = free / megabyte * megabyte
	}
	if size == 0 {
		return 0, fmt.Errorf("%s has no free megabyte left to fill", d.dir)
	}
	file, err := os.OpenFile(d.path(), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("cannot create the fill file in %s: %w", d.dir, err)
	}
	defer file.Close()
	// fallocate reserves the blocks without writing them: fast, and the space is really
	// gone for the handler. Where the file system lacks it, write zeros.
	if err := syscall.Fallocate(int(file.Fd()), 0, 0, int64(size)); err != nil {
		if err := writeZeros(file, size); err != nil {
			return 0, fmt.Errorf("cannot fill %s: %w", d.dir, err)
		}
	}
	return int(size / megabyte), nil
}

func writeZeros(file *os.File, size uint64) error {
	chunk := make([]byte, megabyte)
	for written := uint64(0); written < size; written += megabyte {
		if _, err := file.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

func availableBytes(dir string) (uint64, error) {
	var stat syscall.Statfs_t
	if err := syscall.Statfs(dir, &stat); err != nil {
		return 0, err
	}
	return stat.Bavail * uint64(stat.Bsize), nil
}
