package resourcemanager

// order sorts the available members of one placement (in configured order on
// entry) into the order they are tried, and advances the policy's state
// unless advance is false (a conference leg whose media server is already
// chosen only needs a failover order). It allocates nothing: the member lists
// are a handful long, so insertion sorts. Callers hold g.mu.
func (g *group) order(ms []*member, key string, advance bool) {
	if len(ms) == 0 {
		return
	}
	if !advance {
		defer func(rr int) { g.rr = rr }(g.rr)
	}
	n := len(g.members)
	switch g.policy {
	case PolicyHunt:
		// Configured order, first healthy wins.
	case PolicyRoundRobin:
		// Rotate so the first member at or after the cursor leads.
		k := 0
		for k < len(ms) && ms[k].index < g.rr {
			k++
		}
		rotate(ms, k%len(ms))
		g.rr = (ms[0].index + 1) % n
	case PolicyLeastUsed:
		// Lowest active/capacity first; ties go round-robin so equal members
		// share the load instead of the first one taking every tie.
		dist := func(m *member) int { return (m.index - g.rr + n) % n }
		less := func(a, b *member) bool {
			ca, cb := effCap(a), effCap(b)
			la, lb := a.active*cb, b.active*ca
			if la != lb {
				return la < lb
			}
			return dist(a) < dist(b)
		}
		insertionSort(ms, less)
		g.rr = (ms[0].index + 1) % n
	case PolicyWeighted:
		// Smooth weighted round-robin (as nginx): every member gains its
		// weight, the richest is chosen and pays the total. Weight-0 members
		// only ever serve as failover.
		byWeight := func(a, b *member) bool {
			if a.weight != b.weight {
				return a.weight > b.weight
			}
			return a.index < b.index
		}
		if !advance {
			insertionSort(ms, byWeight)
			return
		}
		total := 0
		best := -1
		for i, m := range ms {
			m.curWeight += m.weight
			total += m.weight
			if m.weight > 0 && (best < 0 || m.curWeight > ms[best].curWeight) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		ms[best].curWeight -= total
		ms[0], ms[best] = ms[best], ms[0]
		insertionSort(ms[1:], byWeight)
	case PolicyHash:
		// Rendezvous hashing: each member scores the key, highest wins. A
		// member leaving moves only its own keys; the runner-up is the
		// failover and is the same for every try of that key.
		kh := fnv64(key)
		insertionSort(ms, func(a, b *member) bool {
			return score(kh, a.name) > score(kh, b.name)
		})
	}
}

func effCap(m *member) int {
	if m.capacity > 0 {
		return m.capacity
	}
	return 1
}

func rotate(ms []*member, k int) {
	if k == 0 {
		return
	}
	reverse(ms[:k])
	reverse(ms[k:])
	reverse(ms)
}

func reverse(ms []*member) {
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
}

func insertionSort(ms []*member, less func(a, b *member) bool) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && less(ms[j], ms[j-1]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// score mixes a key hash with a member name (splitmix64 finaliser) so every
// member ranks every key independently.
func score(keyHash uint64, name string) uint64 {
	x := keyHash ^ fnv64(name)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
