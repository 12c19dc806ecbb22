package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// RemovePodSandboxes stops and removes every pod sandbox of the container
// runtime at endpoint (e.g. unix:///run/containerd/containerd.sock). Each node
// has its own containerd, so every sandbox there is this node's. It returns
// how many sandboxes were removed.
func RemovePodSandboxes(ctx context.Context, endpoint string) (int, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, fmt.Errorf("connect to CRI %s: %w", endpoint, err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	logger := klog.FromContext(ctx)
	removed := 0
	// A kubelet that was just stopped may still have been removing a
	// container: containerd then answers NotFound for the sandbox's
	// container. Such a sandbox is retried in the next round.
	const rounds = 3
	for round := 1; ; round++ {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		list, err := rt.ListPodSandbox(lctx, &runtimeapi.ListPodSandboxRequest{})
		cancel()
		if err != nil {
			return removed, fmt.Errorf("list pod sandboxes at %s: %w", endpoint, err)
		}
		var errs []error
		transient := false
		for _, sb := range list.Items {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := rt.StopPodSandbox(sctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
			if err == nil {
				_, err = rt.RemovePodSandbox(sctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
			}
			cancel()
			if err != nil {
				transient = transient || status.Code(err) == codes.NotFound
				errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.Id, err))
				continue
			}
			removed++
			logger.V(2).Info("Removed pod sandbox", "id", sb.Id, "pod", sb.GetMetadata().GetNamespace()+"/"+sb.GetMetadata().GetName())
		}
		if len(errs) == 0 || !transient || round == rounds {
			return removed, errors.Join(errs...)
		}
		select {
		case <-ctx.Done():
			return removed, errors.Join(append(errs, ctx.Err())...)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// UnmountUnder unmounts dir and every mount below it (the kubelet bind-mounts
// its root dir onto itself and mounts volumes below it), deepest first.
func UnmountUnder(dir string) error {
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	f.Close()
	if err := s.Err(); err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
