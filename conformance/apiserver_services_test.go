package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/devcluster/images"
	"github.com/kubemesos/kubemesos/devcluster/pki"
)

// The API server calls admission webhooks, CRD conversion webhooks and
// aggregated API servers at Services. These tests run each behind a Service,
// served by a pod that kubemesos scheduled, with failurePolicy Fail where
// there is one: a call that does not arrive fails the request.

// requireTestImages skips a test whose pods run the test-server images when
// the cluster may not have them: `kubemesos up --test-images` (and this
// suite's own cluster) import them; KUBEMESOS_E2E_TEST_IMAGES=1 says an
// existing cluster has them.
func requireTestImages(t *testing.T) {
	t.Helper()
	if !cluster.local && os.Getenv("KUBEMESOS_E2E_TEST_IMAGES") != "1" {
		t.Skipf("needs %s, %s and %s on the agents (kubemesos up --test-images, then KUBEMESOS_E2E_TEST_IMAGES=1)",
			images.AgnhostRef, images.SampleAPIServerRef, images.EtcdRef)
	}
}

// kubectlApply applies a YAML stream.
func kubectlApply(t *testing.T, yaml string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n---\n%s", err, out, yaml)
	}
}

// deleteAtEnd deletes cluster-scoped objects when the test ends, even when
// its context is gone.
func deleteAtEnd(t *testing.T, kindAndNames ...string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args := append([]string{"--kubeconfig", cluster.kubeconfig, "delete", "--ignore-not-found", "--wait=false"}, kindAndNames...)
		if out, err := exec.CommandContext(ctx, cluster.kubectl, args...).CombinedOutput(); err != nil {
			t.Logf("kubectl delete %v: %v\n%s", kindAndNames, err, out)
		}
	})
}

// servingCert issues a CA and a serving certificate for Service svc in ns,
// returned as a kubernetes.io/tls Secret manifest named svc-tls and the CA
// bundle (base64) for caBundle fields.
func servingCert(t *testing.T, ns, svc string) (secretYAML, caBundle string) {
	t.Helper()
	ca, err := pki.NewCA(t.TempDir(), svc+"-ca")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueServing(svc, []string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local", svc + "." + ns, svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	secretYAML = fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s-tls, namespace: %s}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
`, svc, ns, b64(kp.CertPEM), b64(kp.KeyPEM))
	return secretYAML, b64(ca.CertPEM)
}

// agnhostServer is a one-replica Deployment running `agnhost <command>` on
// port 8443 with the certificate of servingCert, and its Service on 443.
func agnhostServer(ns, name, command string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec:
      containers:
      - name: server
        image: %[4]s
        imagePullPolicy: IfNotPresent
        args: [%[3]s, --tls-cert-file=/certs/tls.crt, --tls-private-key-file=/certs/tls.key, --port=8443]
        ports: [{containerPort: 8443}]
        readinessProbe:
          httpGet: {scheme: HTTPS, port: 8443, path: /readyz}
          periodSeconds: 1
        resources: {requests: {cpu: 50m, memory: 32Mi}}
        volumeMounts: [{name: certs, mountPath: /certs, readOnly: true}]
      volumes: [{name: certs, secret: {secretName: %[2]s-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  selector: {app: %[2]s}
  ports: [{port: 443, targetPort: 8443}]
`, ns, name, command, images.AgnhostRef)
}

// TestAdmissionWebhookBehindService: a validating webhook served by a pod
// behind a Service admits and denies ConfigMaps in the test's namespace.
func TestAdmissionWebhookBehindService(t *testing.T) {
	requireTestImages(t)
	ns := namespace(t)
	secret, caBundle := servingCert(t, ns, "webhook")
	kubectlApply(t, secret+"---\n"+agnhostServer(ns, "webhook", "webhook"))
	waitEndpoints(t, ns, "webhook", 1)

	cfgName := ns + "-configmaps"
	deleteAtEnd(t, "validatingwebhookconfiguration", cfgName)
	kubectlApply(t, fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: %[2]s}
webhooks:
- name: configmaps.webhook.%[1]s.svc
  clientConfig:
    service: {namespace: %[1]s, name: webhook, path: /configmaps, port: 443}
    caBundle: %[3]s
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %[1]s}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
`, ns, cfgName, caBundle))

	configMap := func(name, value string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {webhook-e2e-test: %s}\n", name, ns, value)
	}
	apply := func(yaml string) (string, error) {
		cmd := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "create", "-f", "-")
		cmd.Stdin = strings.NewReader(yaml)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Denied by the webhook, not by a failed call: the API server has the
	// configuration and reached the pod.
	const denial = "the configmap contains unwanted key and value"
	attempt := 0
	eventually(t, 2*time.Minute, "the webhook to deny a ConfigMap", func() (bool, string) {
		attempt++
		out, err := apply(configMap(fmt.Sprintf("disallowed-%d", attempt), "webhook-disallow"))
		if err == nil {
			// Created before the API server saw the configuration.
			return false, "created: " + strings.TrimSpace(out)
		}
		return strings.Contains(out, denial), strings.TrimSpace(out)
	})
	// Admitted through the webhook: with failurePolicy Fail, a call that
	// cannot reach the pod would deny it.
	if out, err := apply(configMap("allowed", "webhook-allow")); err != nil {
		t.Fatalf("a ConfigMap the webhook allows was not admitted: %v: %s", err, out)
	}
}

// TestCRDConversionWebhookBehindService: a custom resource stored as v1 is
// read as v2 through a conversion webhook behind a Service.
func TestCRDConversionWebhookBehindService(t *testing.T) {
	requireTestImages(t)
	ns := namespace(t)
	secret, caBundle := servingCert(t, ns, "conversion")
	kubectlApply(t, secret+"---\n"+agnhostServer(ns, "conversion", "crd-conversion-webhook"))
	waitEndpoints(t, ns, "conversion", 1)

	// agnhost's converter knows stable.example.com v1 (hostPort) and v2
	// (host, port).
	const crd = "conversiontests.stable.example.com"
	deleteAtEnd(t, "customresourcedefinition", crd)
	schema := "schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}"
	kubectlApply(t, fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[1]s}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: conversiontests, singular: conversiontest, kind: ConversionTest}
  versions:
  - {name: v1, served: true, storage: true, %[4]s}
  - {name: v2, served: true, storage: false, %[4]s}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1, v1beta1]
      clientConfig:
        service: {namespace: %[2]s, name: conversion, path: /crdconvert, port: 443}
        caBundle: %[3]s
`, crd, ns, caBundle, schema))
	eventually(t, time.Minute, "the CRD to be established", func() (bool, string) {
		out, err := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig,
			"get", "crd", crd, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`).CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "True", string(out)
	})
	eventually(t, time.Minute, "a v1 object to be created", func() (bool, string) {
		cmd := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(fmt.Sprintf("apiVersion: stable.example.com/v1\nkind: ConversionTest\nmetadata: {name: one, namespace: %s}\nhostPort: \"localhost:8080\"\n", ns))
		out, err := cmd.CombinedOutput()
		return err == nil, string(out)
	})
	var v2 map[string]any
	eventually(t, time.Minute, "the object read as v2 through the webhook", func() (bool, string) {
		out, err := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig,
			"get", "--raw", "/apis/stable.example.com/v2/namespaces/"+ns+"/conversiontests/one").CombinedOutput()
		if err != nil {
			return false, string(out)
		}
		v2 = nil
		if err := json.Unmarshal(out, &v2); err != nil {
			return false, err.Error()
		}
		return v2["host"] == "localhost" && v2["port"] == "8080", string(out)
	})
	if _, ok := v2["hostPort"]; ok || v2["apiVersion"] != "stable.example.com/v2" {
		t.Errorf("v2 object %v: want apiVersion v2 and no hostPort", v2)
	}
}

// TestAggregatedAPIServer: the upstream sample API server (with etcd beside
// it in its pod), registered as an APIService behind a Service, serves
// flunders through the cluster's API, as the upstream conformance test
// "Aggregator should be able to support the Sample API Server" sets it up.
func TestAggregatedAPIServer(t *testing.T) {
	requireTestImages(t)
	ns := namespace(t)
	secret, caBundle := servingCert(t, ns, "sample-api")
	const apiService = "v1alpha1.wardle.example.com"
	// Deleted first at the end (cleanups run last-in first-out): an
	// APIService whose server is gone blocks namespace deletion.
	deleteAtEnd(t, "clusterrole/"+ns+"-sample-apiserver", "clusterrolebinding/"+ns+"-sample-apiserver",
		"clusterrolebinding/"+ns+"-sample-apiserver-auth-delegator")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "delete", "-n", "kube-system",
			"--ignore-not-found", "rolebinding", ns+"-sample-apiserver-auth-reader").Run()
	})
	deleteAtEnd(t, "apiservice", apiService)
	kubectlApply(t, secret+fmt.Sprintf(`---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[1]s-sample-apiserver}
rules:
- {apiGroups: [""], resources: [namespaces], verbs: [get, list, watch]}
- {apiGroups: [admissionregistration.k8s.io], resources: ["*"], verbs: [get, list, watch]}
- {apiGroups: [flowcontrol.apiserver.k8s.io], resources: [prioritylevelconfigurations, flowschemas], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[1]s-sample-apiserver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[1]s-sample-apiserver}
subjects: [{kind: ServiceAccount, name: default, namespace: %[1]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[1]s-sample-apiserver-auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: default, namespace: %[1]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %[1]s-sample-apiserver-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: default, namespace: %[1]s}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sample-apiserver, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: sample-apiserver}}
  template:
    metadata: {labels: {app: sample-apiserver}}
    spec:
      containers:
      - name: sample-apiserver
        image: %[2]s
        imagePullPolicy: IfNotPresent
        args: [--etcd-servers=http://127.0.0.1:2379, --tls-cert-file=/certs/tls.crt, --tls-private-key-file=/certs/tls.key,
               --audit-log-path=-, --audit-log-maxage=0, --audit-log-maxbackup=0]
        readinessProbe:
          httpGet: {scheme: HTTPS, port: 443, path: /readyz}
          periodSeconds: 1
        resources: {requests: {cpu: 100m, memory: 64Mi}}
        volumeMounts: [{name: certs, mountPath: /certs, readOnly: true}]
      - name: etcd
        image: %[3]s
        imagePullPolicy: IfNotPresent
        command: [/usr/local/bin/etcd, --data-dir=/tmp/etcd, --listen-client-urls=http://127.0.0.1:2379, --advertise-client-urls=http://127.0.0.1:2379,
                  --listen-peer-urls=http://127.0.0.1:2380, --initial-advertise-peer-urls=http://127.0.0.1:2380, --initial-cluster=default=http://127.0.0.1:2380]
        resources: {requests: {cpu: 50m, memory: 64Mi}}
      volumes: [{name: certs, secret: {secretName: sample-api-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: sample-api, namespace: %[1]s}
spec:
  selector: {app: sample-apiserver}
  ports: [{port: 7443, targetPort: 443}]
`, ns, images.SampleAPIServerRef, images.EtcdRef))
	waitEndpoints(t, ns, "sample-api", 1)
	kubectlApply(t, fmt.Sprintf(`apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: %[1]s}
spec:
  group: wardle.example.com
  version: v1alpha1
  service: {namespace: %[2]s, name: sample-api, port: 7443}
  caBundle: %[3]s
  groupPriorityMinimum: 2000
  versionPriority: 200
`, apiService, ns, caBundle))
	eventually(t, 2*time.Minute, "the APIService to be Available", func() (bool, string) {
		out, err := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig,
			"get", "apiservice", apiService, "-o", `jsonpath={.status.conditions[?(@.type=="Available")]}`).CombinedOutput()
		return err == nil && strings.Contains(string(out), `"status":"True"`), string(out)
	})
	flunder := "flunder-" + ns
	eventually(t, time.Minute, "a flunder to be created through the aggregated API", func() (bool, string) {
		cmd := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "create", "-f", "-")
		cmd.Stdin = strings.NewReader(fmt.Sprintf("apiVersion: wardle.example.com/v1alpha1\nkind: Flunder\nmetadata: {name: %s, namespace: %s, labels: {sample-label: \"true\"}}\n", flunder, ns))
		out, err := cmd.CombinedOutput()
		return err == nil || strings.Contains(string(out), "AlreadyExists"), string(out)
	})
	// The sample API server marks v1alpha1 deprecated: kubectl warns on stderr.
	cmd := exec.CommandContext(t.Context(), cluster.kubectl, "--kubeconfig", cluster.kubeconfig,
		"get", "flunders.wardle.example.com", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != flunder {
		t.Fatalf("flunders listed through the aggregated API: %q (%v), want %q", out, err, flunder)
	}
	kubectl(t, "delete", "flunders.wardle.example.com", "-n", ns, flunder)
}
