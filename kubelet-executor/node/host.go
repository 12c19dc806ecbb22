package node

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// HostCapacity measures the CPUs and memory the kubelet will see as capacity.
func HostCapacity() (Host, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return Host{}, fmt.Errorf("read meminfo: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return Host{}, fmt.Errorf("parse MemTotal %q: %w", fields[1], err)
			}
			return Host{CPUs: runtime.NumCPU(), MemMiB: kib / 1024}, nil
		}
	}
	return Host{}, fmt.Errorf("no MemTotal in /proc/meminfo")
}
