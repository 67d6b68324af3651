package testenv

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ResetPeakRSS starts measuring a process's peak resident memory afresh
// (Linux: "5" written to /proc/PID/clear_refs), so that PeakRSS reports the
// peak since; pid 0 is this process. Where the kernel cannot, the test is
// skipped on a developer's machine and fails under CI.
func ResetPeakRSS(t testing.TB, pid int) {
	t.Helper()
	if err := os.WriteFile(procFile(pid, "clear_refs"), []byte("5"), 0); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot reset the peak RSS: %v", err))
	}
}

// PeakRSS is a process's peak resident memory in bytes since it started or
// since ResetPeakRSS (VmHWM); pid 0 is this process.
func PeakRSS(t testing.TB, pid int) int64 { return procStatus(t, pid, "VmHWM:") }

// RSS is a process's resident memory in bytes now (VmRSS); pid 0 is this
// process.
func RSS(t testing.TB, pid int) int64 { return procStatus(t, pid, "VmRSS:") }

func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(procFile(pid, "status"))
	if err != nil {
		skipOrFail(t, fmt.Sprintf("cannot read memory use: %v", err))
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s in %s: %v", field, f.Name(), err)
			}
			return kb << 10
		}
	}
	skipOrFail(t, fmt.Sprintf("no %s in %s", field, f.Name()))
	return 0
}

func procFile(pid int, name string) string {
	if pid == 0 {
		return "/proc/self/" + name
	}
	return fmt.Sprintf("/proc/%d/%s", pid, name)
}

func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
