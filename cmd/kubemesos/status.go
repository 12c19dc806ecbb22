package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemesos/kubemesos/bridge"
)

func init() {
	register("status", "list pods next to the Mesos tasks that run them", runStatus)
}

func runStatus(args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	master := fs.String("mesos-master", os.Getenv("MESOS_MASTER"), "Mesos master, host:port or http://host:port")
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	namespace := fs.String("namespace", "", "only this namespace (default: all)")
	fwName := fs.String("framework-name", "kubemesos", "the bridge's Mesos framework name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	pods, err := client.CoreV1().Pods(*namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	state, err := bridge.FetchMasterState(ctx, *master)
	if err != nil {
		return err
	}
	tasks := map[types.UID][]bridge.StateTask{}
	if fw, ok := state.Framework(*fwName); ok {
		tasks = fw.PodTasks()
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		a, b := pods.Items[i], pods.Items[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tPOD\tPHASE\tPOD IP\tNODE\tMESOS TASK\tTASK STATE\tAGENT")
	for _, p := range pods.Items {
		id, taskState, agent := "-", "-", "-"
		if ts := tasks[p.UID]; len(ts) > 0 { // its last launch
			t := ts[len(ts)-1]
			id, taskState, agent = t.ID, t.State, state.AgentHostname(t.AgentID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, p.Status.Phase,
			orDash(p.Status.PodIP), orDash(p.Spec.NodeName), id, taskState, agent)
	}
	return w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
