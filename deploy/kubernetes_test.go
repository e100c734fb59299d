package deploy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hotfix-bot/hotfix-bot/app"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// strict decodes a manifest into a Kubernetes API type, refusing unknown
// and duplicate fields (a typo in a manifest is an error, not a no-op).
func strict(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// kustomization is the part of kustomize's type the files use.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images"`
}

// serviceMonitor is the part of the Prometheus Operator's type the file
// uses (its Go types are not worth a dependency).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func TestKubernetesManifests(t *testing.T) {
	var k kustomization
	strict(t, "kustomization.yaml", &k)
	files, _ := filepath.Glob("kubernetes/*.yaml")
	var all []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			all = append(all, b)
		}
	}
	sort.Strings(all)
	listed := append([]string(nil), k.Resources...)
	sort.Strings(listed)
	want := []string{"configmap.yaml", "deployment.yaml", "namespace.yaml", "pdb.yaml", "service.yaml"}
	if !reflect.DeepEqual(listed, want) {
		t.Errorf("kustomization resources %v, want %v (the Secret is an example; the ServiceMonitor optional)", listed, want)
	}
	if k.Namespace != "hotfix-bot" {
		t.Errorf("kustomization namespace %q", k.Namespace)
	}

	var ns corev1.Namespace
	strict(t, "namespace.yaml", &ns)
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Error("the namespace does not enforce the restricted pod security standard")
	}

	var d appsv1.Deployment
	strict(t, "deployment.yaml", &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Error("want 2 replicas")
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 || *ru.MaxUnavailable != intstr.FromInt32(0) {
		t.Errorf("rolling update %+v: want maxUnavailable 0", d.Spec.Strategy)
	}
	pod := d.Spec.Template.Spec
	if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("the selector does not match the pod's labels")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token it never uses")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want non-root and seccomp RuntimeDefault", psc)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= int64(shutdownTimeoutSeconds(t)) {
		t.Error("terminationGracePeriodSeconds must exceed server.shutdown_timeout, or SIGKILL cuts the drain short")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v: want a read-only root, no privilege escalation, every capability dropped", sc)
	}
	probe := func(p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("probe %+v, want GET %s on the http port", p, path)
		}
	}
	probe(c.ReadinessProbe, "/readyz")
	probe(c.LivenessProbe, "/healthz")
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != int32(app.Defaults().Server.Port) {
		t.Errorf("ports %+v, want http on the server's port", c.Ports)
	}
	// Sized from the measured memory (BENCHMARKS.md: 28 MiB idle, 48 MiB
	// at a burst's peak) plus the HTTP cache's budget.
	req, lim := c.Resources.Requests, c.Resources.Limits
	mib := func(q resource.Quantity) int64 { return q.Value() >> 20 }
	if mib(req[corev1.ResourceMemory]) < 48 || req.Cpu().IsZero() {
		t.Errorf("requests %v: want at least the measured peak (48 MiB) and some CPU", req)
	}
	if m := mib(lim[corev1.ResourceMemory]); m < 48+app.Defaults().Cache.MaxBytes>>20 || m > 512 {
		t.Errorf("memory limit %d MiB: want room for the peak and the HTTP cache (%d MiB), and a bound", m, app.Defaults().Cache.MaxBytes>>20)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range []string{"GITHUB_APP_INTEGRATION_ID", "GITHUB_APP_WEBHOOK_SECRET"} {
		if e, ok := env[name]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "" {
			t.Errorf("%s must come from the Secret, never a literal", name)
		}
	}
	if env["GITHUB_APP_PRIVATE_KEY_PATH"].Value == "" {
		t.Error("the private key is not read from the mounted Secret")
	}

	// The server reads the ConfigMap's file as its configuration.
	var cm corev1.ConfigMap
	strict(t, "configmap.yaml", &cm)
	cfgFile := filepath.Join(t.TempDir(), "server.yml")
	if err := os.WriteFile(cfgFile, []byte(cm.Data["server.yml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	required := map[string]string{"GITHUB_APP_INTEGRATION_ID": "1", "GITHUB_APP_WEBHOOK_SECRET": "s", "GITHUB_APP_PRIVATE_KEY": rsaKeyPEM(t)}
	if _, err := app.LoadConfig(cfgFile, func(k string) (string, bool) { v, ok := required[k]; return v, ok }); err != nil {
		t.Errorf("the ConfigMap's server.yml does not load: %v", err)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "/etc/hotfix-bot/server.yml") {
		t.Errorf("args %v do not point serve at the ConfigMap's file", c.Args)
	}

	var svc corev1.Service
	strict(t, "service.yaml", &svc)
	if !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("service %+v does not reach the pods' http port", svc.Spec)
	}

	var pdb policyv1.PodDisruptionBudget
	strict(t, "pdb.yaml", &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("pod disruption budget %+v: want at least one pod kept", pdb.Spec)
	}

	var secret corev1.Secret
	strict(t, "secret.example.yaml", &secret)
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			if _, ok := secret.StringData[e.ValueFrom.SecretKeyRef.Key]; !ok {
				t.Errorf("the example Secret lacks %s", e.ValueFrom.SecretKeyRef.Key)
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			for _, item := range v.Secret.Items {
				if _, ok := secret.StringData[item.Key]; !ok {
					t.Errorf("the example Secret lacks %s", item.Key)
				}
			}
		}
	}
	if strings.Contains(secret.StringData["private-key.pem"], "MII") {
		t.Error("the example Secret holds what looks like a real key")
	}

	var sm serviceMonitor
	strict(t, "servicemonitor.yaml", &sm)
	if sm.Kind != "ServiceMonitor" || !reflect.DeepEqual(sm.Spec.Selector.MatchLabels, svc.Labels) || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("service monitor %+v does not scrape the Service's /metrics", sm.Spec)
	}
}

func shutdownTimeoutSeconds(t *testing.T) int {
	return int(time.Duration(app.Defaults().Server.ShutdownTimeout).Seconds())
}

// rsaKeyPEM is a throwaway key, for loading configuration only.
func rsaKeyPEM(t *testing.T) string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}
