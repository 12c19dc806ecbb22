package migrate

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// shellCommand is how Marathon and Metronome run a cmd: /bin/sh -c.
func shellCommand(cmd string) []string { return []string{"/bin/sh", "-c", cmd} }

// appImage sets the container's image and command from container, cmd,
// args, user and the executor.
func appImage(r *Report, a *App, opts Options, c *corev1.Container) {
	ct := a.Container
	image := ""
	switch {
	case ct != nil && ct.Docker != nil:
		image = ct.Docker.Image
		r.converted("container.docker.image", "image %s", image)
		switch ct.Type {
		case "", "DOCKER":
			if ct.Type != "" {
				r.converted("container.type", "DOCKER: containerd runs the Docker image")
			}
		case "MESOS":
			r.converted("container.type", "MESOS with a Docker image: containerd runs it as the Mesos containerizer did")
		}
		dockerOptions(r, "container.docker.", ct.Docker.ForcePullImage, ct.Docker.Privileged, ct.Docker.Parameters, ct.Docker.PullConfig != nil, c)
		if n := ct.Docker.Network; n != "" {
			r.approx("container.docker.network", "%s: every pod has its own IP on the pod network; ports as in container.portMappings", n)
		}
	case ct != nil && len(ct.Appc) > 0:
		r.not("container.appc", "AppC images do not run under containerd: rebuild as an OCI image")
	}
	if ct != nil && len(ct.LinuxInfo) > 0 {
		r.not("container.linuxInfo", "seccomp and capabilities settings of the Mesos containerizer: set the container's securityContext by hand")
	}
	if image == "" {
		if opts.CommandImage != "" {
			image = opts.CommandImage
			r.approx("container", "none: Marathon ran the command on the agent's own filesystem; it runs in --command-image %s, which must hold what the command needs", image)
		} else {
			r.not("container", "none: Marathon ran the command on the agent's own filesystem, and a pod needs an image (give --command-image IMAGE)")
		}
	}
	c.Image = image
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if a.Cmd != nil {
		c.Command = shellCommand(*a.Cmd)
		r.converted("cmd", "command [/bin/sh -c ...], as Marathon runs it")
	}
	if len(a.Args) > 0 {
		c.Args = a.Args
		r.converted("args", "args (the image's entrypoint stays)")
	}
	userField(r, "user", a.User, c)
	switch a.Executor {
	case "", "//cmd":
		if a.Executor != "" {
			r.converted("executor", "the command executor: the kubelet runs the container")
		}
	default:
		r.not("executor", "custom executor %q: pods run under the kubelet-executor only", a.Executor)
	}
	if a.Tty != nil && *a.Tty {
		c.TTY, c.Stdin = true, true
		r.converted("tty", "tty and stdin")
	}
	if len(a.StoreURLs) > 0 {
		r.not("storeUrls", "deprecated in Marathon and without an equivalent")
	}
	if len(a.IPAddress) > 0 {
		r.approx("ipAddress", "IP per task: every pod has its own IP on the pod network")
	}
}

// dockerOptions converts forcePullImage, privileged and parameters.
func dockerOptions(r *Report, field string, forcePull, privileged bool, params []DockerParam, pullConfig bool, c *corev1.Container) {
	if forcePull {
		c.ImagePullPolicy = corev1.PullAlways
		r.converted(field+"forcePullImage", "imagePullPolicy Always")
	}
	if privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		r.converted(field+"privileged", "securityContext.privileged")
	}
	if pullConfig {
		r.not(field+"pullConfig", "registry credentials from the secret store: create a kubernetes.io/dockerconfigjson Secret and add it to imagePullSecrets")
	}
	for i, p := range params {
		f := fmt.Sprintf("%sparameters[%d]", field, i)
		switch p.Key {
		case "workdir", "w":
			c.WorkingDir = p.Value
			r.converted(f, "workingDir %s", p.Value)
		case "env", "e":
			name, value, _ := strings.Cut(p.Value, "=")
			c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
			r.converted(f, "env %s", name)
		default:
			r.not(f, "docker run --%s=%s has no pod equivalent here", p.Key, p.Value)
		}
	}
}

// userField converts the user a task runs as: a UID (or root) becomes
// runAsUser; a name is resolved inside the image by Mesos, which a pod
// cannot do.
func userField(r *Report, field, user string, c *corev1.Container) {
	if user == "" {
		return
	}
	uid := int64(-1)
	if user == "root" {
		uid = 0
	} else if n, err := strconv.ParseInt(user, 10, 64); err == nil && n >= 0 {
		uid = n
	}
	if uid < 0 {
		r.not(field, "%q: a pod runs as a numeric UID (securityContext.runAsUser); look up %s's UID in the image", user, user)
		return
	}
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	c.SecurityContext.RunAsUser = ptr.To(uid)
	r.converted(field, "securityContext.runAsUser %d", uid)
}
