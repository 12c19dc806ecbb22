package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage is what a scheduler has used so far: CPU (user+system) since it
// started and its peak resident memory.
type Usage struct {
	CPU     time.Duration
	PeakRSS int64 // bytes
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports; sysconf is not reachable
// without cgo).
const clockTick = 10 * time.Millisecond

// ProcessUsage reads the CPU time (resolution clockTick) and peak RSS
// (VmHWM) of process pid from /proc.
func ProcessUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("process usage: %w", err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return Usage{}, fmt.Errorf("process usage of %d: %w", pid, err)
	}
	hwm, err := statusKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: cpu, PeakRSS: hwm * 1024}, nil
}

// parseStatCPU returns utime+stime of a /proc/<pid>/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// statusKB reads one "Name:   123 kB" line of a /proc status file.
func statusKB(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("process usage: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), key); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", path, key, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// selfCPU is the bench process's CPU time so far (getrusage, microseconds).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SelfMeter measures a contender that runs inside the bench process: its
// CPU is the process's CPU since Start, its peak RSS the largest growth of
// the process's VmRSS over the value at Start, sampled every interval.
// Whatever else the process does meanwhile (creating pods, watching binds)
// is counted too.
type SelfMeter struct {
	startCPU time.Duration
	baseRSS  int64

	mu   sync.Mutex
	peak int64

	stop func()
	done chan struct{}
}

// selfRSSInterval is how often a SelfMeter samples VmRSS.
const selfRSSInterval = 20 * time.Millisecond

// StartSelfMeter returns the memory freed by a GC to the OS first, so the
// baseline is what the process holds, then starts sampling.
func StartSelfMeter(ctx context.Context) *SelfMeter {
	runtime.GC()
	debug.FreeOSMemory()
	m := &SelfMeter{startCPU: selfCPU(), done: make(chan struct{})}
	m.baseRSS, _ = statusKB("/proc/self/status", "VmRSS:")
	ctx, m.stop = context.WithCancel(ctx)
	go func() {
		defer close(m.done)
		t := time.NewTicker(selfRSSInterval)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *SelfMeter) sample() {
	rss, err := statusKB("/proc/self/status", "VmRSS:")
	if err != nil {
		return
	}
	m.mu.Lock()
	m.peak = max(m.peak, rss-m.baseRSS)
	m.mu.Unlock()
}

// Usage is the CPU since Start and the peak RSS growth so far.
func (m *SelfMeter) Usage() (Usage, error) {
	m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	return Usage{CPU: selfCPU() - m.startCPU, PeakRSS: m.peak * 1024}, nil
}

// Stop ends the sampling.
func (m *SelfMeter) Stop() {
	m.stop()
	<-m.done
}
