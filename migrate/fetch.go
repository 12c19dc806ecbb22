package migrate

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// SandboxPath is where fetched files are, in every container of the pod:
// the path the Mesos Docker containerizer mounts the sandbox at, also in
// $MESOS_SANDBOX.
const SandboxPath = "/mnt/mesos/sandbox"

// DefaultFetchImage runs the init container that downloads fetch URIs:
// busybox's wget, tar, gunzip and unzip.
const DefaultFetchImage = "busybox:1.37"

// sandboxVolume is the emptyDir at SandboxPath.
const sandboxVolume = "sandbox"

// fetchInit is the init container that downloads uris into the sandbox
// as the Mesos fetcher did: extracted when an archive (unless extract is
// false), made executable when asked, under outputFile or destPath if set.
func fetchInit(r *Report, field string, fetch []Fetch, image string) *corev1.Container {
	var script []string
	script = append(script, "set -e", "cd "+SandboxPath)
	for i, f := range fetch {
		u, err := url.Parse(f.URI)
		if err != nil || u.Scheme == "" {
			r.not(fmt.Sprintf("%s[%d]", field, i), "%q is not a URI the init container can download", f.URI)
			continue
		}
		name := path.Base(u.Path)
		if f.OutputFile != "" {
			name = f.OutputFile
		}
		if f.DestPath != "" {
			name = f.DestPath
		}
		dir := path.Dir(name)
		if dir != "." {
			script = append(script, "mkdir -p "+shellQuote(dir))
		}
		switch u.Scheme {
		case "http", "https", "ftp":
			script = append(script, fmt.Sprintf("wget -q -O %s %s", shellQuote(name), shellQuote(f.URI)))
		case "file":
			script = append(script, fmt.Sprintf("cp %s %s", shellQuote(u.Path), shellQuote(name)))
		default:
			r.not(fmt.Sprintf("%s[%d]", field, i), "%s URIs (the Mesos fetcher's HDFS/S3 plugins) are not downloadable with wget", u.Scheme)
			continue
		}
		extract := f.Extract == nil || *f.Extract
		did := []string{"download into " + path.Join(SandboxPath, name)}
		if extract {
			switch {
			case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
				script = append(script, fmt.Sprintf("tar -xzf %s", shellQuote(name)))
				did = append(did, "extract")
			case strings.HasSuffix(name, ".tar"):
				script = append(script, fmt.Sprintf("tar -xf %s", shellQuote(name)))
				did = append(did, "extract")
			case strings.HasSuffix(name, ".zip"):
				script = append(script, fmt.Sprintf("unzip -o -q %s", shellQuote(name)))
				did = append(did, "extract")
			case strings.HasSuffix(name, ".gz"):
				script = append(script, fmt.Sprintf("gunzip -f %s", shellQuote(name)))
				did = append(did, "extract")
			}
		}
		if f.Executable {
			script = append(script, fmt.Sprintf("chmod +x %s", shellQuote(strings.TrimSuffix(name, ".gz"))))
			did = append(did, "chmod +x")
		}
		ff := fmt.Sprintf("%s[%d]", field, i)
		if f.Cache {
			r.approx(ff, "init container (%s): %s; downloaded for every pod, there is no fetcher cache", image, strings.Join(did, ", "))
		} else {
			r.converted(ff, "init container (%s): %s", image, strings.Join(did, ", "))
		}
	}
	if len(script) == 2 {
		return nil
	}
	return &corev1.Container{
		Name: "fetch", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
		Command:      []string{"/bin/sh", "-c", strings.Join(script, "\n")},
		VolumeMounts: []corev1.VolumeMount{{Name: sandboxVolume, MountPath: SandboxPath}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
	}
}

// addSandbox gives the pod the sandbox emptyDir and mounts it in each of
// cs with MESOS_SANDBOX set, as Mesos does.
func addSandbox(spec *corev1.PodSpec, cs ...*corev1.Container) {
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: sandboxVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for _, c := range cs {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: sandboxVolume, MountPath: SandboxPath})
		c.Env = append(c.Env, corev1.EnvVar{Name: "MESOS_SANDBOX", Value: SandboxPath})
	}
}

// fetchFromURIs turns the legacy uris field into fetch entries.
func fetchFromURIs(uris []string) []Fetch {
	out := make([]Fetch, len(uris))
	for i, u := range uris {
		out[i] = Fetch{URI: u}
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
