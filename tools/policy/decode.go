// Package policy decodes Kubernetes manifests strictly into their k8s.io/api types and asserts healthgate's
// deployment rules on them: restricted Pod Security, resources, probes on the right endpoints and ports with
// capped periods, selectors that match, a termination grace period longer than healthgate's drain, no
// secrets in ConfigMaps or literal env values, env names set once, a Deployment an autoscaler scales left
// without replicas, and NetworkPolicies that leave healthgate DNS and its fleet peers.
package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one decoded manifest and where it came from.
type Object struct {
	Source string // file:document-index
	Obj    runtime.Object
}

// String is the kind and name, e.g. "Deployment/hg-healthgate".
func (o Object) String() string {
	gvk := o.Obj.GetObjectKind().GroupVersionKind()
	name := ""
	if m, ok := o.Obj.(interface{ GetName() string }); ok {
		name = m.GetName()
	}
	return gvk.Kind + "/" + name
}

var decoder runtime.Decoder

func init() {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		networkingv1.AddToScheme, rbacv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	// EnableStrict: unknown and duplicate fields are errors, and field names are matched case-sensitively
	// (encoding/json would accept "ContainerPort" for "containerPort").
	decoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// DecodeFile splits a multi-document YAML file and decodes every non-empty document strictly.
func DecodeFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, data)
}

// Decode splits multi-document YAML and decodes every non-empty document strictly. All errors are returned
// together; an unknown kind is an error too.
func Decode(name string, data []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []Object
	var errs []error
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: split documents: %w", name, err)
		}
		if isEmpty(doc) {
			continue
		}
		src := fmt.Sprintf("%s#%d", name, i)
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: strict decode: %w", src, err))
			continue
		}
		objs = append(objs, Object{Source: src, Obj: obj})
	}
	return objs, errors.Join(errs...)
}

// isEmpty reports whether a YAML document holds only comments and whitespace.
func isEmpty(doc []byte) bool {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return false // let the decoder report it
	}
	if v == nil {
		return true
	}
	return strings.TrimSpace(string(doc)) == ""
}
