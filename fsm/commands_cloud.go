package fsm

// UpsertCloud creates or replaces a cloud's record.
type UpsertCloud struct {
	Cloud Cloud `json:"cloud"`
	// IfAbsent only creates: an existing record (with its metadata, such
	// as the cloud's published LB address) is left as it is. A controller
	// registering its own cloud at start uses it, so a registration based
	// on a not yet caught-up FSM cannot erase what others wrote.
	IfAbsent bool `json:"if_absent,omitempty"`
}

// DeleteCloud removes a cloud. It is rejected (ErrInUse) while the cloud
// holds live instances.
type DeleteCloud struct {
	Name string `json:"name"`
}

func init() {
	registerCommand("upsert-cloud", applyUpsertCloud)
	registerCommand("delete-cloud", applyDeleteCloud)
}

func applyUpsertCloud(s *State, _ uint64, c *UpsertCloud) (any, error) {
	if err := checkName("cloud name", c.Cloud.Name); err != nil {
		return nil, err
	}
	if c.Cloud.Capacity < 0 {
		return nil, invalid("cloud %q: capacity %d is negative", c.Cloud.Name, c.Cloud.Capacity)
	}
	if _, exists := s.Clouds[c.Cloud.Name]; exists && c.IfAbsent {
		return nil, nil
	}
	cl := c.Cloud
	s.Clouds[cl.Name] = cl.clone()
	return nil, nil
}

func applyDeleteCloud(s *State, _ uint64, c *DeleteCloud) (any, error) {
	if _, ok := s.Clouds[c.Name]; !ok {
		return nil, reject(ErrNotFound, "cloud %q", c.Name)
	}
	if n := s.idx.liveByCloud[c.Name]; n > 0 {
		return nil, reject(ErrInUse, "cloud %q has %d live instances", c.Name, n)
	}
	delete(s.Clouds, c.Name)
	return nil, nil
}
