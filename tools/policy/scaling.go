package policy

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// autoscaler: the HorizontalPodAutoscaler of the set that scales this Deployment, if any.
func (c *checker) autoscaler(w workload) *autoscalingv2.HorizontalPodAutoscaler {
	if w.strategy == nil { // not a Deployment
		return nil
	}
	for _, h := range c.hpas {
		if t := h.Spec.ScaleTargetRef; t.Kind == "Deployment" && t.Name == w.meta.Name {
			return h
		}
	}
	return nil
}

// minReplicas: the fewest pods a workload runs: an autoscaler's minReplicas (1 when unset), else its
// replicas; 0 when the set cannot tell. A Deployment written without replicas and scaled by no autoscaler
// of the set is scaled from outside it (the chart leaves replicas out only for an autoscaler: its own, or
// autoscaling.external's, a KEDA ScaledObject's HPA), so the API server's default of 1 would be a guess.
func (c *checker) minReplicas(w workload) int32 {
	if h := c.autoscaler(w); h != nil {
		if h.Spec.MinReplicas != nil {
			return *h.Spec.MinReplicas
		}
		return 1
	}
	if w.replicas != nil {
		return *w.replicas
	}
	if w.strategy != nil { // a Deployment
		return 0
	}
	return 1
}

// hpa: an autoscaler scales a Deployment of the set, between bounds that hold, and that Deployment leaves
// spec.replicas out: with it written, every `helm upgrade` (or `kubectl apply`) sets the count back to the
// manifest's, whatever the autoscaler chose.
func (c *checker) hpa(o Object, h *autoscalingv2.HorizontalPodAutoscaler) {
	t := h.Spec.ScaleTargetRef
	var target *workload
	for i, w := range c.workloads {
		if w.strategy != nil && t.Kind == "Deployment" && w.meta.Name == t.Name {
			target = &c.workloads[i]
		}
	}
	if target == nil {
		c.add(o, RuleAutoscaling, "scaleTargetRef %s/%s is no Deployment of this set", t.Kind, t.Name)
		return
	}
	if m := h.Spec.MinReplicas; m != nil && *m > h.Spec.MaxReplicas {
		c.add(o, RuleAutoscaling, "minReplicas %d > maxReplicas %d", *m, h.Spec.MaxReplicas)
	}
	if target.replicas != nil {
		c.add(o, RuleAutoscaling, "%s sets replicas: %d while this autoscaler scales it: every helm upgrade resets the count the autoscaler chose; leave replicas out", target.obj, *target.replicas)
	}
}
