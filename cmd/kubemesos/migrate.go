package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemesos/kubemesos/manifests/apply"
	"github.com/kubemesos/kubemesos/migrate"
)

func init() {
	register("migrate", "convert Marathon apps and Metronome/Chronos jobs to Kubernetes manifests, with a report of every field", runMigrate)
}

// errNotConverted is returned when some app, pod or job has a field that
// did not convert and --partial was not given.
var errNotConverted = errors.New("not every app converted (see the report; --partial writes and applies the others)")

const migrateUsage = `usage: kubemesos migrate marathon FILE|DIR|- [flags]
       kubemesos migrate metronome|chronos FILE|- [flags]

Marathon input: an app, an array of apps, a group (nested groups, apps, pods),
or the answer of GET /v2/apps, /v2/groups or /v2/pods; a DIR is every *.json in it.
Writes YAML to stdout (or one file per app with --out) and the report to stderr.
`

func runMigrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), migrateUsage)
		fs.PrintDefaults()
	}
	var (
		out          = fs.String("out", "", "write one YAML file per app, namespaces.yaml and report.txt into this directory (default: YAML to stdout)")
		namespace    = fs.String("namespace", "default", "the namespace of apps (of apps at the root with --namespace-from-group)")
		fromGroup    = fs.Bool("namespace-from-group", false, "an app's group path is its namespace (/shop/web → namespace shop, name web), not a prefix of its name")
		limits       = fs.String("limits", string(migrate.LimitsMemory), "which requests are also limits: none, memory (as Mesos enforces mem) or all (cpus too, as with CFS quotas)")
		fetchImage   = fs.String("fetch-image", migrate.DefaultFetchImage, "image of the init container that downloads fetch URIs (busybox wget)")
		commandImage = fs.String("command-image", "", "image for apps without one (Marathon ran them on the agent's filesystem); empty: such apps do not convert")
		doApply      = fs.Bool("apply", false, "apply the result to the cluster of --kubeconfig with server-side apply")
		kubeconfig   = fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for --apply")
		partial      = fs.Bool("partial", false, "write and apply the apps that converted even when others did not")
	)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 2 {
		fs.Usage()
		return errors.New("want a source (marathon, metronome or chronos) and an input")
	}
	policy, err := migrate.ParseLimitsPolicy(*limits)
	if err != nil {
		return err
	}
	opts := migrate.Options{Namespace: *namespace, NamespaceFromGroup: *fromGroup, Limits: policy, FetchImage: *fetchImage, CommandImage: *commandImage}
	m, err := convertInput(pos[0], pos[1], opts)
	if err != nil {
		return err
	}
	converted, total := m.Converted(), countWithObjects(m)
	include := migrate.All
	if *partial {
		include = func(r *migrate.Result) bool { return len(r.Objects) > 0 && r.Converted() }
	}
	if err := m.WriteReport(os.Stderr); err != nil {
		return err
	}
	switch {
	case *out != "":
		if err := m.WriteDir(*out); err != nil {
			return err
		}
	case !*doApply:
		if err := m.WriteYAML(os.Stdout, include); err != nil {
			return err
		}
	}
	if converted < total && !*partial {
		if *doApply {
			return fmt.Errorf("nothing applied: %d of %d converted: %w", converted, total, errNotConverted)
		}
		return fmt.Errorf("%d of %d converted: %w", converted, total, errNotConverted)
	}
	if !*doApply {
		return nil
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()
	n, err := applyMigration(ctx, *kubeconfig, m, include)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "applied %d objects (server-side, field manager %s)\n", n, apply.FieldManager)
	return nil
}

func countWithObjects(m *migrate.Migration) int {
	n := 0
	for i := range m.Results {
		if len(m.Results[i].Objects) > 0 {
			n++
		}
	}
	return n
}

// convertInput decodes and converts the input of one source.
func convertInput(source, input string, opts migrate.Options) (*migrate.Migration, error) {
	switch source {
	case "marathon":
		files, err := inputFiles(input)
		if err != nil {
			return nil, err
		}
		all := &migrate.Definitions{}
		for _, f := range files {
			data, err := readInput(f)
			if err != nil {
				return nil, err
			}
			d, err := migrate.DecodeMarathon(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			all.Apps = append(all.Apps, d.Apps...)
			all.Pods = append(all.Pods, d.Pods...)
			all.Groups = append(all.Groups, d.Groups...)
		}
		return migrate.MigrateMarathon(all, opts), nil
	case "metronome", "chronos":
		data, err := readInput(input)
		if err != nil {
			return nil, err
		}
		if source == "metronome" {
			jobs, err := migrate.DecodeMetronome(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", input, err)
			}
			return migrate.MigrateMetronome(jobs, opts), nil
		}
		jobs, err := migrate.DecodeChronos(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", input, err)
		}
		return migrate.MigrateChronos(jobs, opts), nil
	}
	return nil, fmt.Errorf("source %q: want marathon, metronome or chronos", source)
}

// inputFiles is the input itself, or the *.json files of a directory in
// name order.
func inputFiles(input string) ([]string, error) {
	if input == "-" {
		return []string{input}, nil
	}
	st, err := os.Stat(input)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{input}, nil
	}
	files, err := filepath.Glob(filepath.Join(input, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.json files", input)
	}
	sort.Strings(files)
	return files, nil
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// applyMigration applies the namespaces and the included results' objects
// through manifests/apply, as one stream in order, and returns how many
// objects it applied.
func applyMigration(ctx context.Context, kubeconfig string, m *migrate.Migration, include migrate.Include) (int, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, fmt.Errorf("kubeconfig: %w", err)
	}
	var stream bytes.Buffer
	if err := m.WriteYAML(&stream, include); err != nil {
		return 0, err
	}
	objs, err := apply.Decode(stream.Bytes())
	if err != nil {
		return 0, err
	}
	a, err := apply.New(cfg)
	if err != nil {
		return 0, err
	}
	if err := a.Apply(ctx, objs); err != nil {
		var names []string
		for _, o := range objs {
			names = append(names, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
		}
		return 0, fmt.Errorf("%w (stream: %s)", err, strings.Join(names, ", "))
	}
	return len(objs), nil
}
