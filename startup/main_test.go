package startup_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine Wait and Check start must have ended when they return.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
