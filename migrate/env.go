package migrate

import (
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// environment converts env (field is its JSON name): values are copied,
// secret references become secretKeyRef to a Secret of the same path. The
// output never holds a secret's value.
func environment(r *Report, field string, env map[string]EnvValue, secrets map[string]Secret) []corev1.EnvVar {
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []corev1.EnvVar
	for _, n := range names {
		v := env[n]
		if v.Secret == "" {
			out = append(out, corev1.EnvVar{Name: n, Value: v.Value})
			r.converted(field+"."+n, "value")
			continue
		}
		name, key := secretRef(secrets[v.Secret].Source)
		out = append(out, corev1.EnvVar{Name: n, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key},
		}})
		r.approx(field+"."+n, "secretKeyRef %s/%s: create Secret %s with key %s from the secret store's %s (the value is not in the output)",
			name, key, name, key, secrets[v.Secret].Source)
	}
	return out
}

// secretRef is the Secret name and key for a secret store path: the
// directory is the Secret ("db/password" → Secret db, key password), a path
// without one is a Secret with key "value".
func secretRef(source string) (name, key string) {
	source = strings.Trim(source, "/")
	dir, base := path.Split(source)
	if dir == "" {
		return dnsLabel(source, "secret-"), "value"
	}
	return dnsLabel(strings.Trim(dir, "/"), "secret-"), base
}

// reportSecrets says what each declared secret became.
func reportSecrets(r *Report, field string, secrets map[string]Secret) {
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		name, key := secretRef(secrets[n].Source)
		r.approx(field+"."+n, "Secret %s key %s, referenced by name; create it from the secret store's %s", name, key, secrets[n].Source)
	}
}

// marathonEnv are the variables Marathon sets in every task that the app
// may read: its id, and the host's address through the downward API.
func marathonEnv(id string) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "MARATHON_APP_ID", Value: id},
		{Name: "HOST", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
	}
}
