package devcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/devcluster/images"
	"github.com/kubemesos/kubemesos/manifests/addons"
	"github.com/kubemesos/kubemesos/manifests/apply"
	"github.com/kubemesos/kubemesos/manifests/storage"
)

// startAddons applies the cluster add-ons (manifests/addons) with the
// cluster's DNS ClusterIP and the locally built images, and the StorageClass
// kubemesos-local (manifests/storage, reclaim Delete) whose claims the
// bridge provisions as Mesos persistent volumes, and waits until a CoreDNS
// replica is ready: the bridge schedules them like any pod. metrics-server
// is not waited for (its first scrape takes a while).
func (c *Cluster) startAddons(ctx context.Context) error {
	objs, err := addons.CoreDNS(addons.CoreDNSOptions{ClusterIP: c.ClusterDNS, Image: images.CoreDNSRef})
	if err != nil {
		return err
	}
	metrics, err := addons.MetricsServer(images.MetricsServerRef)
	if err != nil {
		return err
	}
	objs = append(objs, metrics...)
	class, err := storage.FS.ReadFile(storage.DeleteFile)
	if err != nil {
		return fmt.Errorf("storage class: %w", err)
	}
	classes, err := apply.Decode(class)
	if err != nil {
		return fmt.Errorf("storage class %s: %w", storage.DeleteFile, err)
	}
	objs = append(objs, classes...)
	a, err := apply.New(c.ControlPlane.RESTConfig())
	if err != nil {
		return err
	}
	if err := a.Apply(ctx, objs); err != nil {
		return fmt.Errorf("cluster add-ons: %w", err)
	}
	client := c.ControlPlane.Client()
	return c.waitFor(ctx, "CoreDNS (kube-system/coredns)", func() (bool, string) {
		d, err := client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.ReadyReplicas > 0, fmt.Sprintf("%d of %d replicas ready", d.Status.ReadyReplicas, d.Status.Replicas)
	})
}

// waitNodes waits until every agent is a Ready Node: the bridge's node
// tasks bring them up before any pod is placed there.
func (c *Cluster) waitNodes(ctx context.Context) error {
	client := c.ControlPlane.Client()
	return c.waitFor(ctx, "every agent to be a Ready node", func() (bool, string) {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= c.cfg.Agents, fmt.Sprintf("%d of %d nodes Ready", ready, c.cfg.Agents)
	})
}
