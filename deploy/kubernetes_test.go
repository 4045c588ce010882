package deploy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The fields of the Kubernetes objects the checks read; the rest of each
// object is ignored.

type objectMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// intOrString is a port given by name or number.
type intOrString string

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	*v = intOrString(n.Value)
	return nil
}

type k8sObject struct {
	Kind     string     `yaml:"kind"`
	Metadata objectMeta `yaml:"metadata"`
}

type configMap struct {
	Metadata objectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type secret struct {
	Metadata   objectMeta        `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

func (s secret) has(key string) bool {
	_, a := s.Data[key]
	_, b := s.StringData[key]
	return a || b
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type keyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string      `yaml:"name"`
		Items []keyToPath `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName string      `yaml:"secretName"`
		Items      []keyToPath `yaml:"items"`
	} `yaml:"secret"`
	EmptyDir *struct{} `yaml:"emptyDir"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port intOrString `yaml:"port"`
	} `yaml:"tcpSocket"`
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []envVar `yaml:"env"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

// port resolves a port given by name or number to the container's port.
func (c container) port(p intOrString) (int, bool) {
	for _, cp := range c.Ports {
		if cp.Name == string(p) || strconv.Itoa(cp.ContainerPort) == string(p) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// mountOf returns the mount that holds the file at p, and p inside it.
func (c container) mountOf(p string) (volumeMount, string, bool) {
	var best volumeMount
	var rest string
	for _, m := range c.VolumeMounts {
		if rel, err := filepath.Rel(m.MountPath, p); err == nil && !strings.HasPrefix(rel, "..") && len(m.MountPath) > len(best.MountPath) {
			best, rest = m, rel
		}
	}
	return best, rest, best.Name != ""
}

type statefulSet struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ServiceName         string        `yaml:"serviceName"`
		Replicas            int           `yaml:"replicas"`
		PodManagementPolicy string        `yaml:"podManagementPolicy"`
		Selector            labelSelector `yaml:"selector"`
		Template            struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
					FSGroup      int  `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Affinity *struct {
					PodAntiAffinity struct {
						Required []struct {
							LabelSelector labelSelector `yaml:"labelSelector"`
							TopologyKey   string        `yaml:"topologyKey"`
						} `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
					} `yaml:"podAntiAffinity"`
				} `yaml:"affinity"`
				InitContainers []container `yaml:"initContainers"`
				Containers     []container `yaml:"containers"`
				Volumes        []volume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata objectMeta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

func (s statefulSet) podLabels() map[string]string { return s.Spec.Template.Metadata.Labels }

func (s statefulSet) container(name string) (container, bool) {
	for _, c := range s.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return container{}, false
}

func (s statefulSet) volume(name string) (volume, bool) {
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return volume{}, false
}

// podDNS is the stable name of pod ordinal i in namespace ns.
func (s statefulSet) podDNS(i int, ns string) string {
	return fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", s.Metadata.Name, i, s.Spec.ServiceName, ns)
}

// secretItem returns "secret/key" for the file at p in container c, when p
// is an item of a Secret volume.
func (s statefulSet) secretItem(c container, p string) (string, error) {
	mount, rel, ok := c.mountOf(p)
	if !ok {
		return "", fmt.Errorf("%s is in no volume", p)
	}
	v, _ := s.volume(mount.Name)
	if v.Secret == nil {
		return "", fmt.Errorf("%s: volume %s is not a Secret", p, mount.Name)
	}
	for _, it := range v.Secret.Items {
		if it.Path == rel {
			return v.Secret.SecretName + "/" + it.Key, nil
		}
	}
	return "", fmt.Errorf("%s: Secret volume %s has no item at %s", p, mount.Name, rel)
}

// claimMountedAt reports whether c mounts a volumeClaimTemplate at dir.
func (s statefulSet) claimMountedAt(c container, dir string) bool {
	for _, m := range c.VolumeMounts {
		for _, v := range s.Spec.VolumeClaimTemplates {
			if m.MountPath == dir && m.Name == v.Metadata.Name {
				return true
			}
		}
	}
	return false
}

type pdb struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		MaxUnavailable intOrString   `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

// manifests are the objects of a set of manifest files, by name.
type manifests struct {
	configMaps   map[string]configMap
	secrets      map[string]secret
	services     map[string]service
	statefulSets map[string]statefulSet
	pdbs         map[string]pdb
	// objects are kind/name of every object, in file order.
	objects []string
}

func loadManifests(t *testing.T, docs []*yaml.Node) manifests {
	t.Helper()
	m := manifests{
		configMaps: map[string]configMap{}, secrets: map[string]secret{}, services: map[string]service{},
		statefulSets: map[string]statefulSet{}, pdbs: map[string]pdb{},
	}
	for _, d := range docs {
		var o k8sObject
		if err := d.Decode(&o); err != nil {
			t.Fatal(err)
		}
		if o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("an object without kind or metadata.name at line %d", d.Line)
		}
		id := o.Kind + "/" + o.Metadata.Name
		if slices.Contains(m.objects, id) {
			t.Errorf("%s is defined twice", id)
		}
		m.objects = append(m.objects, id)
		var err error
		switch o.Kind {
		case "ConfigMap":
			err = decodeInto(d, m.configMaps, o.Metadata.Name)
		case "Secret":
			err = decodeInto(d, m.secrets, o.Metadata.Name)
		case "Service":
			err = decodeInto(d, m.services, o.Metadata.Name)
		case "StatefulSet":
			err = decodeInto(d, m.statefulSets, o.Metadata.Name)
		case "PodDisruptionBudget":
			err = decodeInto(d, m.pdbs, o.Metadata.Name)
		default:
			t.Errorf("%s: a kind the checks do not know; teach them", id)
		}
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	return m
}

// decodeInto decodes d as a T and files it under name.
func decodeInto[T any](d *yaml.Node, into map[string]T, name string) error {
	var v T
	err := d.Decode(&v)
	into[name] = v
	return err
}

const (
	k8sBase       = "kubernetes/base"
	k8sSingleNode = "kubernetes/single-node"
	// testNamespace stands for whatever namespace the manifests go to.
	testNamespace = "warden-test"
)

type kustomization struct {
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
	Patches []struct {
		Patch  string `yaml:"patch"`
		Target struct {
			Kind string `yaml:"kind"`
		} `yaml:"target"`
	} `yaml:"patches"`
}

// baseManifests reads every manifest the base kustomization lists, after
// checking that it lists every YAML file of the directory.
func baseManifests(t *testing.T) manifests {
	t.Helper()
	var k kustomization
	decodeYAML(t, filepath.Join(k8sBase, "kustomization.yaml"), &k)
	files, err := filepath.Glob(filepath.Join(k8sBase, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			want = append(want, filepath.Base(f))
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %q, want every manifest of %s: %q", k.Resources, k8sBase, want)
	}
	var docs []*yaml.Node
	for _, f := range want {
		docs = append(docs, yamlDocs(t, filepath.Join(k8sBase, f))...)
	}
	return loadManifests(t, docs)
}

func TestKubernetesStatefulSets(t *testing.T) {
	m := baseManifests(t)
	if len(m.statefulSets) != 2 {
		t.Fatalf("want the warden and the redis StatefulSets, have %d", len(m.statefulSets))
	}
	for name, s := range m.statefulSets {
		t.Run(name, func(t *testing.T) {
			labels := s.podLabels()
			if !subset(s.Spec.Selector.MatchLabels, labels) {
				t.Errorf("selector %v does not select the pod labels %v", s.Spec.Selector.MatchLabels, labels)
			}
			if s.Spec.Replicas != 3 {
				t.Errorf("replicas %d, want 3", s.Spec.Replicas)
			}
			// Ordered start would wait for warden-0 to be ready, which it is
			// only once a majority runs: the others would never start.
			if s.Spec.PodManagementPolicy != "Parallel" {
				t.Errorf("podManagementPolicy %q, want Parallel", s.Spec.PodManagementPolicy)
			}

			svc, ok := m.services[s.Spec.ServiceName]
			switch {
			case !ok:
				t.Errorf("serviceName %q: no such Service", s.Spec.ServiceName)
			case svc.Spec.ClusterIP != "None":
				t.Errorf("Service %s: clusterIP %q, want None (headless: the pods' stable names)", svc.Metadata.Name, svc.Spec.ClusterIP)
			case !svc.Spec.PublishNotReadyAddresses:
				t.Errorf("Service %s: publishNotReadyAddresses must be true (members must find each other before any is ready)", svc.Metadata.Name)
			case !subset(svc.Spec.Selector, labels):
				t.Errorf("Service %s selects %v, not the pods %v", svc.Metadata.Name, svc.Spec.Selector, labels)
			}

			budgets := 0
			for _, p := range m.pdbs {
				if subset(p.Spec.Selector.MatchLabels, labels) {
					budgets++
					if p.Spec.MaxUnavailable != "1" {
						t.Errorf("PodDisruptionBudget %s: maxUnavailable %q, want 1", p.Metadata.Name, p.Spec.MaxUnavailable)
					}
				}
			}
			if budgets != 1 {
				t.Errorf("%d PodDisruptionBudgets select the pods, want 1", budgets)
			}

			spec := s.Spec.Template.Spec
			if spec.Affinity == nil || len(spec.Affinity.PodAntiAffinity.Required) != 1 {
				t.Errorf("want one required pod anti-affinity term")
			} else if a := spec.Affinity.PodAntiAffinity.Required[0]; a.TopologyKey != "kubernetes.io/hostname" || !subset(a.LabelSelector.MatchLabels, labels) {
				t.Errorf("anti-affinity %+v: want the pods' own labels across kubernetes.io/hostname", a)
			}
			if !spec.SecurityContext.RunAsNonRoot || spec.SecurityContext.RunAsUser == 0 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-root runAsUser", spec.SecurityContext)
			}

			claims := map[string]bool{}
			for _, c := range s.Spec.VolumeClaimTemplates {
				claims[c.Metadata.Name] = false
			}
			for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
				checkContainer(t, m, s, c, claims)
			}
			for c, used := range claims {
				if !used {
					t.Errorf("volumeClaimTemplate %s is mounted by no container", c)
				}
			}
		})
	}
}

// k8sRefRE is a $(NAME) reference in a container's env value.
var k8sRefRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkContainer checks what every container needs: resources, a locked
// down securityContext, volumes and env references that exist.
func checkContainer(t *testing.T, m manifests, s statefulSet, c container, claims map[string]bool) {
	t.Helper()
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("container %s: want cpu and memory requests and a memory limit, have %+v", c.Name, c.Resources)
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container %s: want allowPrivilegeEscalation false, readOnlyRootFilesystem, capabilities dropped", c.Name)
	}
	for _, vm := range c.VolumeMounts {
		if _, ok := claims[vm.Name]; ok {
			claims[vm.Name] = true
			continue
		}
		v, ok := s.volume(vm.Name)
		if !ok {
			t.Errorf("container %s mounts %s: no such volume or volumeClaimTemplate", c.Name, vm.Name)
			continue
		}
		switch {
		case v.ConfigMap != nil:
			cm, ok := m.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			for _, it := range v.ConfigMap.Items {
				if _, ok := cm.Data[it.Key]; !ok {
					t.Errorf("volume %s: ConfigMap %s has no key %s", v.Name, v.ConfigMap.Name, it.Key)
				}
			}
		case v.Secret != nil:
			sec, ok := m.secrets[v.Secret.SecretName]
			if !ok {
				t.Errorf("volume %s: no Secret %s", v.Name, v.Secret.SecretName)
			}
			for _, it := range v.Secret.Items {
				if !sec.has(it.Key) {
					t.Errorf("volume %s: Secret %s has no key %s", v.Name, v.Secret.SecretName, it.Key)
				}
			}
		case v.EmptyDir != nil:
		default:
			t.Errorf("volume %s: a kind the checks do not know", v.Name)
		}
	}
	defined := map[string]bool{}
	for _, e := range c.Env {
		// $(NAME) in a value refers to a variable defined above it.
		for _, ref := range k8sRefRE.FindAllStringSubmatch(e.Value, -1) {
			if !defined[ref[1]] {
				t.Errorf("container %s: env %s uses $(%s), which is not defined before it", c.Name, e.Name, ref[1])
			}
		}
		defined[e.Name] = true
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && !m.secrets[r.Name].has(r.Key) {
			t.Errorf("container %s: env %s: Secret %s has no key %s", c.Name, e.Name, r.Name, r.Key)
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			if _, ok := m.configMaps[r.Name].Data[r.Key]; !ok {
				t.Errorf("container %s: env %s: ConfigMap %s has no key %s", c.Name, e.Name, r.Name, r.Key)
			}
		}
	}
}

func TestKubernetesServices(t *testing.T) {
	m := baseManifests(t)
	for name, svc := range m.services {
		var pods []statefulSet
		for _, s := range m.statefulSets {
			if subset(svc.Spec.Selector, s.podLabels()) {
				pods = append(pods, s)
			}
		}
		if len(pods) != 1 {
			t.Errorf("Service %s selects the pods of %d StatefulSets, want 1", name, len(pods))
			continue
		}
		for _, p := range svc.Spec.Ports {
			found := false
			for _, c := range pods[0].Spec.Template.Spec.Containers {
				if cp, ok := c.port(p.TargetPort); ok {
					found = true
					if cp != p.Port {
						t.Errorf("Service %s port %s: %d in front of container port %d; keep them equal, clients are told the container's", name, p.Name, p.Port, cp)
					}
				}
			}
			if !found {
				t.Errorf("Service %s port %s: targetPort %q is no container port of %s", name, p.Name, p.TargetPort, pods[0].Metadata.Name)
			}
		}
	}
}

// wardenPod is the warden StatefulSet with its configuration.
type wardenPod struct {
	sts, redis statefulSet
	c          container
	configText string
}

func loadWardenPod(t *testing.T, m manifests) wardenPod {
	t.Helper()
	w := wardenPod{sts: m.statefulSets["warden"], redis: m.statefulSets["redis"]}
	var ok bool
	if w.c, ok = w.sts.container("warden"); !ok {
		t.Fatal("StatefulSet warden has no container warden")
	}
	args := w.c.Args
	if len(args) != 3 || args[0] != "serve" || args[1] != "--config" {
		t.Fatalf("container warden args %q, want serve --config FILE", args)
	}
	mount, rel, ok := w.c.mountOf(args[2])
	if !ok {
		t.Fatalf("--config %s is in no volume", args[2])
	}
	v, _ := w.sts.volume(mount.Name)
	if v.ConfigMap == nil {
		t.Fatalf("--config %s: volume %s is not a ConfigMap", args[2], mount.Name)
	}
	for _, it := range v.ConfigMap.Items {
		if it.Path == rel {
			w.configText = m.configMaps[v.ConfigMap.Name].Data[it.Key]
		}
	}
	if w.configText == "" {
		t.Fatalf("--config %s: ConfigMap %s does not hold it", args[2], v.ConfigMap.Name)
	}
	return w
}

// env is the container's environment in pod podName: fieldRefs as the
// kubelet fills them, $(NAME) expanded.
func (c container) env(t *testing.T, podName string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = k8sRefRE.ReplaceAllStringFunc(e.Value, func(ref string) string {
				return env[ref[2:len(ref)-1]]
			})
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = podName
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = testNamespace
		default:
			t.Fatalf("env %s: a source the checks do not know", e.Name)
		}
	}
	return env
}

func TestKubernetesWardenConfig(t *testing.T) {
	m := baseManifests(t)
	w := loadWardenPod(t, m)
	sts, c := w.sts, w.c

	// Every ${VAR} of the file is in the container's environment.
	env0 := c.env(t, sts.Metadata.Name+"-0")
	for _, v := range referencedVars(w.configText) {
		if _, ok := env0[v]; !ok {
			t.Errorf("the config uses ${%s}, which the container's env does not set", v)
		}
	}
	// Every file it names is a key of a Secret mounted there.
	for p, key := range secretFiles(w.configText) {
		if _, err := sts.secretItem(c, p); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}

	raftPort, _ := c.port("raft")
	httpPort, _ := c.port("http")
	sentinelPort, _ := c.port("sentinel")
	redisC, _ := w.redis.container("redis")
	redisPort, _ := redisC.port("redis")
	var members []string
	for i := range sts.Spec.Replicas {
		members = append(members, fmt.Sprintf("%s-%d=%s:%d", sts.Metadata.Name, i, sts.podDNS(i, testNamespace), raftPort))
	}
	var nodes []string
	for i := range w.redis.Spec.Replicas {
		nodes = append(nodes, fmt.Sprintf("%s:%d", w.redis.podDNS(i, testNamespace), redisPort))
	}

	for i := range sts.Spec.Replicas {
		pod := fmt.Sprintf("%s-%d", sts.Metadata.Name, i)
		t.Run(pod, func(t *testing.T) {
			cfg, err := parseWith(t, w.configText, c.env(t, pod))
			if err != nil {
				t.Fatalf("the ConfigMap's config does not load in pod %s: %v", pod, err)
			}
			if cfg.ID != pod {
				t.Errorf("id %q, want the pod's name %s", cfg.ID, pod)
			}
			if want := fmt.Sprintf("%s:%d", sts.podDNS(i, testNamespace), raftPort); cfg.Raft.Advertise != want {
				t.Errorf("raft.advertise %q, want %q (the headless Service's name for the pod, the raft port)", cfg.Raft.Advertise, want)
			}
			if !slices.Equal(cfg.Raft.Bootstrap, members) {
				t.Errorf("raft.bootstrap %q, want the StatefulSet's ordinals %q", cfg.Raft.Bootstrap, members)
			}
			if p := port(t, "raft.bind", cfg.Raft.Bind); p != raftPort || raftPort == 0 {
				t.Errorf("raft.bind port %d, container port raft %d", p, raftPort)
			}
			if p := port(t, "http.listen", cfg.HTTP.Listen); p != httpPort || httpPort == 0 {
				t.Errorf("http.listen port %d, container port http %d", p, httpPort)
			}
			if p := port(t, "sentinel.listen", cfg.Sentinel.Listen); p != sentinelPort || sentinelPort == 0 {
				t.Errorf("sentinel.listen port %d, container port sentinel %d", p, sentinelPort)
			}
			if want := fmt.Sprintf("%s:%d", sts.podDNS(i, testNamespace), sentinelPort); cfg.Sentinel.Advertise != want {
				t.Errorf("sentinel.advertise %q, want %q", cfg.Sentinel.Advertise, want)
			}
			if len(cfg.Groups) != 1 || !slices.Equal(cfg.Groups[0].Nodes, nodes) {
				t.Errorf("groups %+v, want one group of the redis StatefulSet's pods %q", cfg.Groups, nodes)
			}
			if cfg.Detection.RequiredWatchdogs > sts.Spec.Replicas/2+1 {
				t.Errorf("detection.required_watchdogs %d: more than a majority of %d members, so one member down would stop every failover", cfg.Detection.RequiredWatchdogs, sts.Spec.Replicas)
			}
			if !sts.claimMountedAt(c, cfg.DataDir) {
				t.Errorf("data_dir %s is not the mount of a volumeClaimTemplate", cfg.DataDir)
			}
		})
	}

	for _, pr := range []struct {
		name string
		p    *probe
		path string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe of %s", pr.name, pr.path)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path {
			t.Errorf("%s path %s, want %s", pr.name, pr.p.HTTPGet.Path, pr.path)
		}
		if p, ok := c.port(pr.p.HTTPGet.Port); !ok || p != httpPort {
			t.Errorf("%s port %q is not the API's port %d", pr.name, pr.p.HTTPGet.Port, httpPort)
		}
	}

	// The init container waits for the name raft.advertise resolves.
	if len(sts.Spec.Template.Spec.InitContainers) != 1 {
		t.Fatalf("want one init container, waiting for the pod's DNS name")
	}
	ic := sts.Spec.Template.Spec.InitContainers[0]
	script := strings.Join(ic.Command, " ")
	if want := "$POD_NAME." + sts.Spec.ServiceName + ".$POD_NAMESPACE.svc.cluster.local"; !strings.Contains(script, want) || !strings.Contains(script, "getent hosts") {
		t.Errorf("init container %s: want it to poll getent hosts %s, have %q", ic.Name, want, script)
	}
	if ic.Image != c.Image {
		t.Errorf("init container image %s, want warden's own (%s), which has getent", ic.Image, c.Image)
	}
	if e := ic.env(t, "warden-0"); e["POD_NAME"] != "warden-0" || e["POD_NAMESPACE"] != testNamespace {
		t.Errorf("init container env %v: want POD_NAME and POD_NAMESPACE", e)
	}
}

func TestKubernetesRedis(t *testing.T) {
	m := baseManifests(t)
	w := loadWardenPod(t, m)
	r := w.redis
	c, ok := r.container("redis")
	if !ok {
		t.Fatal("StatefulSet redis has no container redis")
	}
	if len(c.Command) != 2 || c.Command[0] != "sh" {
		t.Fatalf("redis command %q, want sh SCRIPT", c.Command)
	}
	mount, rel, ok := c.mountOf(c.Command[1])
	if !ok {
		t.Fatalf("%s is in no volume", c.Command[1])
	}
	v, _ := r.volume(mount.Name)
	if v.ConfigMap == nil || len(v.ConfigMap.Items) != 1 || v.ConfigMap.Items[0].Path != rel {
		t.Fatalf("%s: want a ConfigMap volume holding it", c.Command[1])
	}
	script := m.configMaps[v.ConfigMap.Name].Data[v.ConfigMap.Items[0].Key]
	if want := read(t, "docker/redis-start.sh"); script != want {
		t.Errorf("ConfigMap %s differs from docker/redis-start.sh: keep one script", v.ConfigMap.Name)
	}
	if p, _ := c.port("redis"); p != 6379 {
		t.Errorf("container port redis %d, want 6379 (redis-start.sh writes port 6379)", p)
	}

	// The password file is the same Secret key warden's redis.password_file names.
	var raw struct {
		Redis struct {
			PasswordFile string `yaml:"password_file"`
		} `yaml:"redis"`
	}
	if err := yaml.Unmarshal([]byte(w.configText), &raw); err != nil {
		t.Fatal(err)
	}
	wardenKey, err := w.sts.secretItem(w.c, raw.Redis.PasswordFile)
	if err != nil {
		t.Fatalf("warden's redis.password_file: %v", err)
	}

	for i := range r.Spec.Replicas {
		pod := fmt.Sprintf("%s-%d", r.Metadata.Name, i)
		env := c.env(t, pod)
		if got := env["REDIS_ANNOUNCE"]; got != r.podDNS(i, testNamespace) {
			t.Errorf("%s: REDIS_ANNOUNCE %q, want the pod's stable name %s", pod, got, r.podDNS(i, testNamespace))
		}
		if got := env["REDIS_SEED_MASTER"]; got != r.podDNS(0, testNamespace) {
			t.Errorf("%s: REDIS_SEED_MASTER %q, want %s", pod, got, r.podDNS(0, testNamespace))
		}
		if got, err := r.secretItem(c, env["REDIS_PASSWORD_FILE"]); err != nil || got != wardenKey {
			t.Errorf("%s: REDIS_PASSWORD_FILE %s is Secret key %q (%v), warden's redis.password_file is %q", pod, env["REDIS_PASSWORD_FILE"], got, err, wardenKey)
		}
		dataDir := env["REDIS_DIR"]
		if dataDir == "" {
			dataDir = "/data" // redis-start.sh's default
		}
		if !r.claimMountedAt(c, dataDir) {
			t.Errorf("%s: Redis's dir %s is not the mount of a volumeClaimTemplate", pod, dataDir)
		}
		if conf := env["REDIS_CONF"]; conf != "" {
			if m, _, ok := c.mountOf(conf); !ok || m.Name != "tmp" {
				t.Errorf("REDIS_CONF %s: want it on the writable tmp volume (the root file system is read-only)", conf)
			}
		}
	}
}

func TestKubernetesKustomize(t *testing.T) {
	kubectl := need(t, "kubectl")
	m := baseManifests(t)
	build := func(dir string) manifests {
		out, err := run(t, kubectl, "kustomize", dir)
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
		}
		f := filepath.Join(t.TempDir(), "out.yaml")
		if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		return loadManifests(t, yamlDocs(t, f))
	}
	sorted := func(s []string) []string { return slices.Sorted(slices.Values(s)) }

	base := build(k8sBase)
	if !slices.Equal(sorted(base.objects), sorted(m.objects)) {
		t.Errorf("kustomize built %q, the files hold %q", base.objects, m.objects)
	}
	for name, s := range base.statefulSets {
		for _, c := range slices.Concat(s.Spec.Template.Spec.InitContainers, s.Spec.Template.Spec.Containers) {
			if strings.HasPrefix(c.Image, "warden") && c.Image != "warden:latest" {
				t.Errorf("%s/%s: image %s after kustomize's images:, want warden:latest", name, c.Name, c.Image)
			}
		}
	}

	var k kustomization
	decodeYAML(t, filepath.Join(k8sSingleNode, "kustomization.yaml"), &k)
	if rel, _ := filepath.Rel(k8sSingleNode, k8sBase); !slices.Equal(k.Resources, []string{rel}) {
		t.Errorf("%s resources %q, want [%s]", k8sSingleNode, k.Resources, rel)
	}
	single := build(k8sSingleNode)
	if !slices.Equal(sorted(single.objects), sorted(m.objects)) {
		t.Errorf("the single-node overlay built %q, want the base's %q", single.objects, m.objects)
	}
	for name, s := range single.statefulSets {
		if s.Spec.Template.Spec.Affinity != nil {
			t.Errorf("single-node: StatefulSet %s keeps its anti-affinity", name)
		}
	}
}

// TestKubernetesReadme checks that the walkthrough names what exists.
func TestKubernetesReadme(t *testing.T) {
	doc := read(t, "kubernetes/README.md")
	m := baseManifests(t)
	for _, s := range []string{"kubectl apply -k deploy/kubernetes/base", "deploy/kubernetes/single-node", "kubectl delete pod redis-0", "warden events", "warden groups mymaster"} {
		if !strings.Contains(doc, s) {
			t.Errorf("kubernetes/README.md does not mention %q", s)
		}
	}
	w := loadWardenPod(t, m)
	for p := range secretFiles(w.configText) {
		if !strings.Contains(doc, path.Base(p)) {
			t.Errorf("kubernetes/README.md does not say where %s comes from", path.Base(p))
		}
	}
}
