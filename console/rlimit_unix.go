//go:build unix

package console

import "syscall"

// fileLimit is the soft RLIMIT_NOFILE (the Go runtime raises it to the
// hard limit at start); 0 when unknown.
func fileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}
