package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

func ptrTo[T any](v T) *T { return &v }

// testVolume is a persistent volume of size MB on disk reserved for role
// in the refinement format the master sends the agent.
func testVolume(id, role string, size float64, src *mesos.Resource_DiskInfo_Source) mesos.Resource {
	return mesos.Resource{
		Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: size},
		Reservations: []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptrTo(role), Principal: ptrTo("p")}},
		Disk: &mesos.Resource_DiskInfo{
			Persistence: &mesos.Resource_DiskInfo_Persistence{ID: id, Principal: ptrTo("p")},
			Volume:      &mesos.Volume{ContainerPath: "data", Mode: mesos.RW.Enum()},
			Source:      src,
		},
	}
}

func TestPersistentVolumePath(t *testing.T) {
	const wd = "/var/lib/mesos"
	pathSrc := func(root string) *mesos.Resource_DiskInfo_Source {
		return &mesos.Resource_DiskInfo_Source{Type: mesos.Resource_DiskInfo_Source_PATH, Path: &mesos.Resource_DiskInfo_Source_Path{Root: ptrTo(root)}}
	}
	mountSrc := func(root string) *mesos.Resource_DiskInfo_Source {
		return &mesos.Resource_DiskInfo_Source{Type: mesos.Resource_DiskInfo_Source_MOUNT, Mount: &mesos.Resource_DiskInfo_Source_Mount{Root: ptrTo(root)}}
	}
	unreserved := testVolume("v", "db", 1, nil)
	unreserved.Reservations = nil
	for _, tc := range []struct {
		name    string
		v       mesos.Resource
		want    string
		wantErr string
	}{
		{"work dir", testVolume("vol1", "db", 1, nil), "/var/lib/mesos/volumes/roles/db/vol1", ""},
		{"hierarchical role", testVolume("vol1", "eng/db", 1, nil), "/var/lib/mesos/volumes/roles/eng db/vol1", ""},
		{"PATH disk", testVolume("vol1", "db", 1, pathSrc("/mnt/ssd")), "/mnt/ssd/volumes/roles/db/vol1", ""},
		{"relative PATH root", testVolume("vol1", "db", 1, pathSrc("ssd")), "/var/lib/mesos/ssd/volumes/roles/db/vol1", ""},
		{"MOUNT disk", testVolume("vol1", "db", 1, mountSrc("/mnt/disk1")), "/mnt/disk1", ""},
		{"unreserved", unreserved, "", "not reserved"},
		{"bad persistence id", testVolume("..", "db", 1, nil), "", "invalid persistence ID"},
		{"slash in persistence id", testVolume("a/b", "db", 1, nil), "", "invalid persistence ID"},
		{"PATH without root", testVolume("vol1", "db", 1, pathSrc("")), "", "has no root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := persistentVolumePath(wd, tc.v)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("persistentVolumePath = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("persistentVolumePath = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := persistentVolumePath(wd, mesos.Resource{Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}}); err == nil {
		t.Error("persistentVolumePath of plain disk succeeded")
	}
}

// A directory that exists before CREATE keeps its data (Mesos leaves it
// alone); DESTROY of a MOUNT volume empties the mount point but keeps it.
func TestSyncVolumesExistingDirectoryAndMountRoot(t *testing.T) {
	wd := t.TempDir()
	pre := filepath.Join(wd, "volumes", "roles", "db", "old")
	if err := os.MkdirAll(pre, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pre, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(wd, "mnt")
	if err := os.MkdirAll(filepath.Join(mnt, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mountVol := testVolume("m", "db", 1, &mesos.Resource_DiskInfo_Source{Type: mesos.Resource_DiskInfo_Source_MOUNT, Mount: &mesos.Resource_DiskInfo_Source_Mount{Root: ptrTo(mnt)}})
	vols := mesos.Resources{testVolume("old", "db", 1, nil), mountVol}
	if err := syncVolumes(wd, nil, vols); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(pre, "keep")); err != nil || string(b) != "x" {
		t.Fatalf("pre-existing data after CREATE: %q, %v", b, err)
	}
	if err := syncVolumes(wd, vols, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pre); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("destroyed volume still at %s: %v", pre, err)
	}
	entries, err := os.ReadDir(mnt)
	if err != nil || len(entries) != 0 {
		t.Errorf("MOUNT volume after DESTROY: entries %v, %v; want an empty mount point", entries, err)
	}
	// Destroying a volume whose directory is already gone is no error.
	if err := syncVolumes(wd, mesos.Resources{testVolume("gone", "db", 1, nil)}, nil); err != nil {
		t.Errorf("sync of a volume without a directory: %v", err)
	}
}

// When the volume directory cannot be created the agent commits nothing:
// its resources stay as they were and resources.target is left, as Mesos'
// agent exits without committing. The next start syncs and commits it.
func TestCheckpointResourcesSyncFailureIsRetriedAtStart(t *testing.T) {
	cfg := Config{Master: "127.0.0.1:1", WorkDir: t.TempDir(), Resources: "cpus:1;mem:256;disk:100"}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the volumes directory belongs makes mkdir fail.
	blocker := filepath.Join(cfg.WorkDir, "volumes")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	total := append(mesos.Resources{}, a.resources...)
	total.Subtract(mesos.Resources{{Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 40}}}...)
	total.Add1(testVolume("vol1", "db", 40, nil))
	cmd := link.Command{Type: link.CmdCheckpointResources}
	for i := range total {
		cmd.Resources = append(cmd.Resources, link.Marshal(&total[i]))
	}
	a.checkpointResources(cmd)
	if hasVolume(a.resources, "vol1") {
		t.Fatalf("agent took resources whose volume directory failed: %v", a.resources)
	}
	if _, err := os.Stat(a.resourcesTargetPath()); err != nil {
		t.Fatalf("no resources.target after a failed sync: %v", err)
	}
	if _, err := os.Stat(a.resourcesCheckpointPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("resources.info committed after a failed sync: %v", err)
	}

	// Still blocked: the agent does not start.
	again, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.loadCheckpointedResources(); err == nil {
		t.Fatal("start with an unsyncable target succeeded")
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	restarted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.loadCheckpointedResources(); err != nil {
		t.Fatal(err)
	}
	if !hasVolume(restarted.resources, "vol1") {
		t.Errorf("restarted agent's resources have no vol1: %v", restarted.resources)
	}
	if fi, err := os.Stat(filepath.Join(cfg.WorkDir, "volumes", "roles", "db", "vol1")); err != nil || !fi.IsDir() {
		t.Errorf("volume directory after the retried sync: %v", err)
	}
	if _, err := os.Stat(restarted.resourcesTargetPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("resources.target left after the retried sync: %v", err)
	}
	if _, err := os.Stat(restarted.resourcesCheckpointPath()); err != nil {
		t.Errorf("resources.info after the retried sync: %v", err)
	}
}

func hasVolume(rs mesos.Resources, id string) bool {
	for i := range rs {
		if rs[i].GetDisk().GetPersistence().GetID() == id {
			return true
		}
	}
	return false
}

func TestLinkVolumes(t *testing.T) {
	wd := t.TempDir()
	sandbox := filepath.Join(wd, "sandbox")
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	v := testVolume("vol1", "db", 1, nil)
	if err := linkVolumes(wd, sandbox, mesos.Resources{v}); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(sandbox, "data"))
	if want := filepath.Join(wd, "volumes", "roles", "db", "vol1"); err != nil || target != want {
		t.Fatalf("sandbox link data -> %q, %v; want %q", target, err, want)
	}
	// Linking again (a second task of the executor) is fine.
	if err := linkVolumes(wd, sandbox, mesos.Resources{v}); err != nil {
		t.Errorf("second link of the same volume: %v", err)
	}
	other := testVolume("vol2", "db", 1, nil)
	if err := linkVolumes(wd, sandbox, mesos.Resources{other}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("link over an existing container path: %v", err)
	}
	abs := testVolume("vol3", "db", 1, nil)
	abs.Disk.Volume.ContainerPath = "/data"
	if err := linkVolumes(wd, sandbox, mesos.Resources{abs}); err == nil || !strings.Contains(err.Error(), "absolute container path") {
		t.Errorf("absolute container path: %v", err)
	}
	out := testVolume("vol4", "db", 1, nil)
	out.Disk.Volume.ContainerPath = "../escape"
	if err := linkVolumes(wd, sandbox, mesos.Resources{out}); err == nil || !strings.Contains(err.Error(), "leaves the sandbox") {
		t.Errorf("container path outside the sandbox: %v", err)
	}
}
