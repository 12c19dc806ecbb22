package images

import "sort"

// Coverage is how the images a suite names (e2e.test --list-images) are met
// here: built under that name, unavailable for a listed reason, or missing.
type Coverage struct {
	Built       []string
	Unavailable map[string]string
	// Missing are names neither built nor listed in Unavailable: a new
	// image the pinned suite started to use.
	Missing []string
}

// Cover sorts names into built (a name in built), unavailable and missing.
func Cover(names, built []string) Coverage {
	have := map[string]bool{}
	for _, b := range built {
		have[b] = true
	}
	c := Coverage{Unavailable: map[string]string{}}
	for _, n := range names {
		switch {
		case n == "":
		case have[n]:
			c.Built = append(c.Built, n)
		case UnavailableReason(n) != "":
			c.Unavailable[n] = UnavailableReason(n)
		default:
			c.Missing = append(c.Missing, n)
		}
	}
	sort.Strings(c.Built)
	sort.Strings(c.Missing)
	return c
}
