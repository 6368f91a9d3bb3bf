package config_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/healthgate/healthgate/config"
)

// field decodes one of a check's kind-specific fields as a kind would (Check.DecodeSpec), into a T.
func field[T any](t *testing.T, c config.Check, key string) T {
	t.Helper()
	others := slices.DeleteFunc(c.Spec.Keys(), func(k string) bool { return k == key })
	typ := reflect.StructOf([]reflect.StructField{{Name: "V", Type: reflect.TypeFor[T](), Tag: reflect.StructTag(`yaml:"` + key + `"`)}})
	v := reflect.New(typ)
	c.Spec = c.Spec.Without(others...)
	if errs := c.DecodeSpec(v.Interface()); len(errs) > 0 {
		t.Fatalf("decoding %s: %v", key, errs)
	}
	return v.Elem().Field(0).Interface().(T)
}
