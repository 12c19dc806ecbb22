package migrate

import (
	"maps"
	"slices"
)

// sortedKeys are m's keys in order, so that output does not depend on map
// iteration.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
