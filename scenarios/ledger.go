package scenarios

// Storage kinds of the ledger's members.
const (
	// LedgerPersistent gives each member a persistent volume on its node:
	// a member moved by a drain comes back to its node and its data.
	LedgerPersistent = "persistent"
	// LedgerEphemeral gives each member an emptyDir: a member that moves
	// starts empty, as a store without volumes does.
	LedgerEphemeral = "ephemeral"
)

// Defaults of the ledger.
const (
	DefaultLedgerMembers   = 3
	DefaultLedgerWriteRate = 20.0
	// MaxLedgerWriteRate bounds the sequenced writes: each is an fsync'd
	// raft entry on every member, on the same machine as the cluster.
	MaxLedgerWriteRate = 200.0
)

// Ledger is the stateful canary: a replicated store (an etcd cluster, a
// StatefulSet with a volume per member and a PodDisruptionBudget) beside
// the canary, and a writer in the load generator that sends sequenced
// writes at a steady rate, records each acknowledged one, and reads them
// all back after every node's upgrade and at the end. An acknowledged write
// that is missing fails the rehearsal (rule lost-writes); the writes'
// availability and latency are judged per phase against their baseline
// like any target's (the stream target:ledger).
type Ledger struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Members is the number of store members, each on its own node: 1, 3
	// or 5 (default 3).
	Members int `yaml:"members,omitempty" json:"members,omitempty"`
	// WriteRate is the writes per second (default 20), outside load.rate;
	// load.baseline and load.after must each hold checks.judge.minSamples
	// of them.
	WriteRate float64 `yaml:"writeRate,omitempty" json:"writeRate,omitempty"`
	// Storage is persistent (default) or ephemeral.
	Storage string `yaml:"storage,omitempty" json:"storage,omitempty"`
	// PDB is the members' PodDisruptionBudget (default maxUnavailable 1).
	PDB PDB `yaml:"pdb,omitempty" json:"pdb,omitempty"`
	// Image is the store's image, one that runs etcd as its entrypoint.
	// Empty: the image of the cluster's own etcd (already on every node of
	// a kubeadm cluster).
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
}

// WithDefaults returns the ledger with its defaults filled in.
func (l Ledger) WithDefaults() Ledger {
	if l.Members == 0 {
		l.Members = DefaultLedgerMembers
	}
	if l.WriteRate == 0 {
		l.WriteRate = DefaultLedgerWriteRate
	}
	if l.Storage == "" {
		l.Storage = LedgerPersistent
	}
	if !l.PDB.Disabled && l.PDB.MaxUnavailable == nil && l.PDB.MinAvailable == nil {
		one := 1
		l.PDB.MaxUnavailable = &one
	}
	return l
}

func (s *Scenario) validateLedger(add func(path, format string, args ...any)) {
	l := s.Ledger
	if !l.Enabled {
		return
	}
	if s.Cluster.Provider == ProviderExisting {
		add("ledger.enabled", "the stateful canary makes hostPath volumes on the nodes: it runs on a throwaway kind cluster, not on provider existing")
	}
	switch l.Members {
	case 0, 1, 3, 5:
	default:
		add("ledger.members", "%d: want 1, 3 or 5 members (a majority of them must stay up)", l.Members)
	}
	if l.WriteRate < 0 || (l.WriteRate > 0 && l.WriteRate < 1) || l.WriteRate > MaxLedgerWriteRate {
		add("ledger.writeRate", "%v: want 1 to %v writes per second", l.WriteRate, MaxLedgerWriteRate)
	}
	switch l.Storage {
	case "", LedgerPersistent, LedgerEphemeral:
	default:
		add("ledger.storage", "%q: want %s or %s", l.Storage, LedgerPersistent, LedgerEphemeral)
	}
	validatePDB("ledger.pdb", l.PDB, add)
	for _, t := range s.Load.Targets {
		if t.Name == LedgerTarget {
			add("ledger", "load.targets already has a target named %q, the ledger's stream", LedgerTarget)
		}
	}
}

// LedgerTarget names the ledger's writes among the load's streams.
const LedgerTarget = "ledger"
