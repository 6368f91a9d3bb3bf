package checks

// Status is a verdict over checks in health+json terms (draft-inadarei-api-health-check): the one
// vocabulary of `check`'s report (startup) and of the probes' bodies (monitor, server).
type Status string

// pass: every check passes; warn: only non-critical checks do not; fail: a critical one does not (for
// /readyz, also: the process is shutting down).
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// With folds one check's result into the verdict s: a critical check that does not pass makes it
// fail, any other one that does not pass makes it at least warn.
func (s Status) With(ok, critical bool) Status {
	switch {
	case ok || s == Fail:
		return s
	case critical:
		return Fail
	}
	return Warn
}
