package checks

import "strings"

// IsDSNKeyword lets the fuzz target tell a secret with a blank in it from the next key=value.
func IsDSNKeyword(key string) bool { return dsnKeywords[strings.ToLower(key)] }
