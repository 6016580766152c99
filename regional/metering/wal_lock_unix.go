//go:build unix

package metering

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock. The lock belongs to
// the open file, so a second open of the directory fails even inside the
// same process, and it is released by the kernel when the process dies,
// so a kill -9 never leaves a stale lock.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
