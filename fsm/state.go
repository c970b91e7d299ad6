package fsm

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Liveness of a hypervisor as decided by the leader from gossip.
type Liveness string

// Liveness values. Only the leader writes them (SetLiveness).
const (
	LivenessAlive   Liveness = "alive"
	LivenessSuspect Liveness = "suspect"
	LivenessFailed  Liveness = "failed"
	LivenessLeft    Liveness = "left"
)

// Hypervisor is a host that runs instances, known through gossip.
type Hypervisor struct {
	ID         string            `json:"id"`
	Cloud      string            `json:"cloud"`
	Driver     string            `json:"driver"`
	APIAddr    string            `json:"api_addr"`
	GossipAddr string            `json:"gossip_addr"`
	Capacity   int               `json:"capacity"` // instances it can hold
	Meta       map[string]string `json:"meta,omitempty"`
	Liveness   Liveness          `json:"liveness"`
	Since      time.Time         `json:"since"` // when Liveness last changed (from the command)
}

// Cloud is a site with one controller: a public cloud region or a private
// data centre. Lower Priority values are preferred by default placement.
type Cloud struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
	// Capacity is the most live instances the cloud may hold (0: no limit).
	// CreateInstances beyond it fails with ErrCapacity.
	Capacity int               `json:"capacity"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// Subnet is one IP subnet of a tenant network. Instances get addresses from
// [RangeStart, RangeEnd]; Gateway lies in the subnet but outside the range.
type Subnet struct {
	CIDR       string `json:"cidr"`
	Gateway    string `json:"gateway,omitempty"`
	RangeStart string `json:"range_start"`
	RangeEnd   string `json:"range_end"`
}

// Network is a tenant network (one bridge per subnet on every hypervisor).
type Network struct {
	Name    string   `json:"name"`
	Subnets []Subnet `json:"subnets"`
}

// TenantSettings are the tenant's service preferences (tenant.yml's
// should_log, should_encrypt_pwd and retention).
type TenantSettings struct {
	// LogSamples keeps per-instance load samples (should_log).
	LogSamples bool `json:"log_samples"`
	// EncryptSecrets asks nodes to store instance secrets encrypted
	// (should_encrypt_pwd). The FSM only carries the flag.
	EncryptSecrets bool `json:"encrypt_secrets"`
	// Retention drops the tenant's metric points and samples older than
	// this, measured from the time of the newest recorded point (0: keep up
	// to the global caps only).
	Retention time.Duration `json:"retention"`
}

// Tenant is a customer: its networks, public IP and settings. Its scaling
// groups live in State.Groups under GroupKey(tenant, group).
type Tenant struct {
	Name string `json:"name"`
	// Version counts the ApplyTenant commands that changed the tenant
	// (1 after creation); ApplyTenant.ExpectedVersion checks it.
	Version  uint64         `json:"version"`
	PublicIP string         `json:"public_ip,omitempty"`
	Networks []Network      `json:"networks"`
	Settings TenantSettings `json:"settings"`
	// Groups are the names of the tenant's groups, sorted.
	Groups []string `json:"groups"`
	// Deleting is set by DeleteTenant while instances are still being
	// drained; the tenant disappears when its last group does.
	Deleting bool      `json:"deleting,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// CloudPreference ranks a cloud for a group's placement. Lower Priority is
// preferred; Max caps the group's instances there (0: no cap).
type CloudPreference struct {
	Cloud    string `json:"cloud"`
	Priority int    `json:"priority"`
	Max      int    `json:"max,omitempty"`
}

// Decision is the last scaling decision recorded for a group.
type Decision struct {
	Time      time.Time          `json:"time"`
	Source    string             `json:"source"` // SourceManual or SourceScaler
	Direction Direction          `json:"direction"`
	From      int                `json:"from"`
	To        int                `json:"to"`
	Requested int                `json:"requested"` // before clamping to min/max
	Policy    string             `json:"policy,omitempty"`
	Reason    string             `json:"reason,omitempty"`
	Inputs    map[string]float64 `json:"inputs,omitempty"`
	Placement map[string]int     `json:"placement,omitempty"` // per-cloud counts
}

// Cooldown is a group's scaling history the guards need.
type Cooldown struct {
	LastScaleOut time.Time `json:"last_scale_out"`
	LastScaleIn  time.Time `json:"last_scale_in"`
	LastDecision *Decision `json:"last_decision,omitempty"`
}

// Group is a scaling group of a tenant.
type Group struct {
	Tenant  string `json:"tenant"`
	Name    string `json:"name"`
	Network string `json:"network"`
	Min     int    `json:"min"`
	Max     int    `json:"max"`
	Desired int    `json:"desired"`
	// Policy and Template are owned by the scaler and node packages; the
	// FSM stores them verbatim.
	Policy      json.RawMessage   `json:"policy,omitempty"`
	Template    json.RawMessage   `json:"template,omitempty"`
	Clouds      []CloudPreference `json:"clouds,omitempty"`
	DrainPeriod time.Duration     `json:"drain_period"`
	Suspended   bool              `json:"suspended"`
	Cooldown    Cooldown          `json:"cooldown"`
	// FiredSlots are the schedule slot keys already fired, oldest first,
	// bounded by Settings.FiredSlotCap.
	FiredSlots []string `json:"fired_slots,omitempty"`
	// Deleting is set when the group left its tenant's spec (or the tenant
	// was deleted) while it still had live instances.
	Deleting bool      `json:"deleting,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Key returns the group's key in State.Groups.
func (g *Group) Key() string { return GroupKey(g.Tenant, g.Name) }

// HasFired reports whether a schedule slot key was already fired.
func (g *Group) HasFired(slot string) bool {
	for _, s := range g.FiredSlots {
		if s == slot {
			return true
		}
	}
	return false
}

// GroupKey is the key of a group in State.Groups: "tenant/group".
func GroupKey(tenant, group string) string { return tenant + "/" + group }

// Health of an instance as reported by its site's checks.
type Health string

// Health values.
const (
	HealthUnknown   Health = "unknown"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Instance is one VM or container of a group.
type Instance struct {
	ID         string        `json:"id"`
	Tenant     string        `json:"tenant"`
	Group      string        `json:"group"`
	Cloud      string        `json:"cloud"`
	Hypervisor string        `json:"hypervisor,omitempty"`
	Network    string        `json:"network"`
	IP         string        `json:"ip"`
	Address    string        `json:"address,omitempty"` // host:port the load balancer targets
	State      InstanceState `json:"state"`
	Health     Health        `json:"health"`
	Protected  bool          `json:"protected,omitempty"`
	Reason     string        `json:"reason,omitempty"` // why the last state change happened
	Created    time.Time     `json:"created"`
	Updated    time.Time     `json:"updated"`
	Since      time.Time     `json:"since"` // when State last changed
}

// Live reports whether the instance holds resources (not terminal).
func (i *Instance) Live() bool { return !i.State.Terminal() }

// QuarantinedUntil returns when the address of a failed instance may be
// handed out again: IPQuarantine after its failure (Since). Zero for an
// instance that is not failed.
func (i *Instance) QuarantinedUntil() time.Time {
	if i.State != StateFailed {
		return time.Time{}
	}
	return i.Since.Add(IPQuarantine)
}

// Reapable reports whether reap-instances with Before before, applied at
// now, forgets the instance: terminal, last updated before before, and not
// a failed instance whose address is still quarantined at now.
func (i *Instance) Reapable(before, now time.Time) bool {
	return i.State.Terminal() && i.Updated.Before(before) && !i.QuarantinedUntil().After(now)
}

// ActivityEntry is one line of the activity log: a scaling decision or a
// notable event, with the inputs and formula that explain it.
type ActivityEntry struct {
	Seq    uint64             `json:"seq"` // assigned by the FSM, increasing
	Time   time.Time          `json:"time"`
	Kind   string             `json:"kind"` // "scale", "tenant", "group", "instance", ...
	Tenant string             `json:"tenant,omitempty"`
	Group  string             `json:"group,omitempty"`
	Cloud  string             `json:"cloud,omitempty"`
	From   int                `json:"from"`
	To     int                `json:"to"`
	Policy string             `json:"policy,omitempty"`
	Inputs map[string]float64 `json:"inputs,omitempty"`
	Reason string             `json:"reason,omitempty"`
}

// MetricPoint is one aggregated observation of a group: one cloud's view
// (its site reconciler's stats pass) when Cloud is set, else the whole
// group (points written before clouds were recorded).
type MetricPoint struct {
	Time      time.Time `json:"time"`
	AvgCPU    float64   `json:"avg_cpu"`
	RPS       float64   `json:"rps"`
	Instances int       `json:"instances"`
	Forecast  *float64  `json:"forecast,omitempty"`
	// RPSMeasured says RPS was measured (the request rate the load
	// balancers sent to the point's instances); a point without it carries
	// no request rate, and a scaler reading rps treats it as missing, not
	// as zero.
	RPSMeasured bool `json:"rps_measured,omitempty"`
	// Cloud is the cloud whose instances the point covers ("": the whole
	// group, or a single-cloud writer). Points are ordered per cloud; a
	// group's history interleaves its clouds' points in time order, and
	// readers merge them into group totals (cluster/autoscale).
	Cloud string `json:"cloud,omitempty"`
}

// LoadSample is one load measurement of one instance.
type LoadSample struct {
	Time time.Time `json:"time"`
	CPU  float64   `json:"cpu"`
	RPS  float64   `json:"rps"`
}

// Settings are cluster-wide bounds. Zero fields mean the default.
type Settings struct {
	ActivityCap       int `json:"activity_cap"`        // activity log entries
	MetricHistoryCap  int `json:"metric_history_cap"`  // metric points per group
	InstanceSampleCap int `json:"instance_sample_cap"` // load samples per instance
	FiredSlotCap      int `json:"fired_slot_cap"`      // schedule slot keys per group
}

// Default bounds.
const (
	DefaultActivityCap       = 10000
	DefaultMetricHistoryCap  = 2880 // a day at one evaluation per 30 s
	DefaultInstanceSampleCap = 120
	DefaultFiredSlotCap      = 256
	// MaxCap is the largest value any bound may be set to.
	MaxCap = 1 << 20
)

// withDefaults fills zero fields with the defaults.
func (s Settings) withDefaults() Settings {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.ActivityCap, DefaultActivityCap)
	def(&s.MetricHistoryCap, DefaultMetricHistoryCap)
	def(&s.InstanceSampleCap, DefaultInstanceSampleCap)
	def(&s.FiredSlotCap, DefaultFiredSlotCap)
	return s
}

// State is everything the cluster agrees on. Fields are exported for JSON
// snapshots; only command apply functions mutate it. Readers get it through
// (*FSM).Read and must copy what they keep (the query methods return copies).
type State struct {
	// Index is the raft index of the last applied command.
	Index       uint64                 `json:"index"`
	Settings    Settings               `json:"settings"`
	Clouds      map[string]*Cloud      `json:"clouds"`
	Hypervisors map[string]*Hypervisor `json:"hypervisors"`
	Tenants     map[string]*Tenant     `json:"tenants"`
	Groups      map[string]*Group      `json:"groups"` // by GroupKey
	Instances   map[string]*Instance   `json:"instances"`
	// Activity is the activity log, oldest first, bounded by
	// Settings.ActivityCap.
	Activity    []ActivityEntry `json:"activity"`
	ActivitySeq uint64          `json:"activity_seq"` // last assigned Seq
	// Metrics is the per-group metric history (by GroupKey), oldest first.
	Metrics map[string][]MetricPoint `json:"metrics"`
	// Samples are per-instance load samples, oldest first (only for tenants
	// with Settings.LogSamples).
	Samples map[string][]LoadSample `json:"samples"`
	// Evaluations are the autoscaler's per-group evaluation history (by
	// GroupKey), oldest first; see commands_eval.go.
	Evaluations map[string][]Evaluation `json:"evaluations,omitempty"`
	// ACLTokens are the ACL tokens keyed by their SecretHash (the SHA-256
	// of the secret, never the secret; see commands_acl.go).
	ACLTokens map[string]ACLToken `json:"acl_tokens,omitempty"`

	idx index // derived; rebuilt by normalize, never serialised
}

// index holds derived lookups. Everything in it is a function of the
// exported state, so it never needs to be in a snapshot.
type index struct {
	ipOwner     map[netip.Addr]string           // live instance IP -> instance ID
	byGroup     map[string]map[string]*Instance // group key -> id -> instance (all states)
	liveByCloud map[string]int                  // cloud -> live instances
	liveByGroup map[string]int                  // group key -> live instances
	ranges      map[string]map[string][]ipRange // tenant -> network -> ranges in order
	// lowFree is a per-range hint: every address in [start, lowFree) is
	// held by a live instance or has a quarantine entry of the range's
	// tenant. Only an accelerator; the allocation result does not depend on
	// it.
	lowFree map[ipRange]netip.Addr
	// quarantine: tenant -> address -> the failed instances holding it
	// (IPQuarantine; an entry stays until the instance is reaped, the
	// allocator compares its end with the command's time).
	quarantine map[string]map[netip.Addr][]quarEntry
}

// NewState returns empty state with all maps allocated.
func NewState() *State {
	s := &State{}
	s.normalize()
	return s
}

// normalize allocates nil maps (after JSON decoding of an older snapshot),
// applies default settings and rebuilds the derived index.
func (s *State) normalize() {
	if s.Clouds == nil {
		s.Clouds = map[string]*Cloud{}
	}
	if s.Hypervisors == nil {
		s.Hypervisors = map[string]*Hypervisor{}
	}
	if s.Tenants == nil {
		s.Tenants = map[string]*Tenant{}
	}
	if s.Groups == nil {
		s.Groups = map[string]*Group{}
	}
	if s.Instances == nil {
		s.Instances = map[string]*Instance{}
	}
	if s.Metrics == nil {
		s.Metrics = map[string][]MetricPoint{}
	}
	if s.Samples == nil {
		s.Samples = map[string][]LoadSample{}
	}
	if s.Evaluations == nil {
		s.Evaluations = map[string][]Evaluation{}
	}
	if s.ACLTokens == nil {
		s.ACLTokens = map[string]ACLToken{}
	}
	s.Settings = s.Settings.withDefaults()
	s.rebuildIndex()
}

func (s *State) rebuildIndex() {
	s.idx = index{
		ipOwner:     make(map[netip.Addr]string, len(s.Instances)),
		byGroup:     map[string]map[string]*Instance{},
		liveByCloud: map[string]int{},
		liveByGroup: map[string]int{},
		ranges:      map[string]map[string][]ipRange{},
		lowFree:     map[ipRange]netip.Addr{},
		quarantine:  map[string]map[netip.Addr][]quarEntry{},
	}
	for name, t := range s.Tenants {
		s.idx.ranges[name] = tenantRanges(t.Networks)
	}
	for _, inst := range s.Instances {
		s.indexInstance(inst)
	}
}

// mutableInstance replaces an instance by a fresh copy and returns it for
// modification. Instances are copy-on-write: a snapshot shares the old
// *Instance values with the live state and encodes them while apply goes
// on, so an *Instance reachable from State.Instances is never written to.
func (s *State) mutableInstance(id string) *Instance {
	old := s.Instances[id]
	n := *old
	s.Instances[id] = &n
	if m := s.idx.byGroup[GroupKey(n.Tenant, n.Group)]; m != nil {
		m[id] = &n
	}
	return &n
}

// indexInstance adds a new instance to the derived index.
func (s *State) indexInstance(inst *Instance) {
	k := GroupKey(inst.Tenant, inst.Group)
	m := s.idx.byGroup[k]
	if m == nil {
		m = map[string]*Instance{}
		s.idx.byGroup[k] = m
	}
	m[inst.ID] = inst
	if inst.Live() {
		s.idx.liveByCloud[inst.Cloud]++
		s.idx.liveByGroup[k]++
		if a, err := netip.ParseAddr(inst.IP); err == nil {
			s.idx.ipOwner[a] = inst.ID
		}
	}
	if inst.State == StateFailed {
		s.addQuarantine(inst)
	}
}

// unindexInstance removes an instance from the derived index.
func (s *State) unindexInstance(inst *Instance) {
	k := GroupKey(inst.Tenant, inst.Group)
	if m := s.idx.byGroup[k]; m != nil {
		delete(m, inst.ID)
		if len(m) == 0 {
			delete(s.idx.byGroup, k)
		}
	}
	if inst.Live() {
		s.unindexLive(inst)
	}
	if inst.State == StateFailed {
		s.removeQuarantine(inst)
	}
}

// unindexLive updates the live counters and frees the IP of an instance
// that leaves the live states.
func (s *State) unindexLive(inst *Instance) {
	k := GroupKey(inst.Tenant, inst.Group)
	if s.idx.liveByCloud[inst.Cloud]--; s.idx.liveByCloud[inst.Cloud] <= 0 {
		delete(s.idx.liveByCloud, inst.Cloud)
	}
	if s.idx.liveByGroup[k]--; s.idx.liveByGroup[k] <= 0 {
		delete(s.idx.liveByGroup, k)
	}
	s.releaseIP(inst)
}
