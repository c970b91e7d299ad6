package fsm

import (
	"bytes"
	"testing"
)

func TestRecordEvaluation(t *testing.T) {
	h := seeded(t)
	h.ok(SetSettingsType, SetSettings{Settings: Settings{MetricHistoryCap: 3}})
	fc, up := 4.5, 6.0
	for i := 0; i < 5; i++ {
		h.ok(RecordEvaluationType, RecordEvaluation{Tenant: "acme", Group: "web", Evaluation: Evaluation{
			Time: at(100 + i), Current: 2, Serving: 2, Recommended: 2 + i, Desired: 3, Average: 0.7, Load: 1.4,
			Forecast: &fc, ForecastUpper: &up, Model: "holt-winters"}})
	}
	s := h.state()
	hist := s.EvaluationHistory("acme", "web")
	if len(hist) != 3 || !hist[0].Time.Equal(at(102)) || hist[2].Recommended != 6 || hist[2].Forecast == nil || *hist[2].Forecast != 4.5 {
		t.Fatalf("history %+v, want the newest 3 evaluations", hist)
	}
	// The copy does not alias the state.
	*hist[2].Forecast = 99
	if got := *h.state().EvaluationHistory("acme", "web")[2].Forecast; got != 4.5 {
		t.Fatalf("EvaluationHistory aliases the state: %v", got)
	}

	// Snapshot round trip keeps the history.
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, s); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.EvaluationHistory("acme", "web"); len(got) != 3 || got[2].Model != "holt-winters" {
		t.Fatalf("after snapshot: %+v", got)
	}

	neg := -1.0
	for _, tc := range []struct {
		name string
		cmd  RecordEvaluation
		want error
	}{
		{"unknown group", RecordEvaluation{Tenant: "acme", Group: "nope", Evaluation: Evaluation{Time: at(200)}}, ErrNotFound},
		{"no time", RecordEvaluation{Tenant: "acme", Group: "web"}, ErrBadCommand},
		{"not after last", RecordEvaluation{Tenant: "acme", Group: "web", Evaluation: Evaluation{Time: at(104)}}, ErrBadCommand},
		{"negative count", RecordEvaluation{Tenant: "acme", Group: "web", Evaluation: Evaluation{Time: at(200), Current: -1}}, ErrBadCommand},
		{"negative load", RecordEvaluation{Tenant: "acme", Group: "web", Evaluation: Evaluation{Time: at(200), Load: -1}}, ErrBadCommand},
		{"negative forecast", RecordEvaluation{Tenant: "acme", Group: "web", Evaluation: Evaluation{Time: at(200), Forecast: &neg}}, ErrBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) { h.fail(RecordEvaluationType, tc.cmd, tc.want) })
	}
}

func TestRecordEvaluationGoesWithGroup(t *testing.T) {
	h := seeded(t)
	h.ok(RecordEvaluationType, RecordEvaluation{Tenant: "acme", Group: "web", Evaluation: Evaluation{Time: at(100), Current: 1}})
	cmd := acmeTenant()
	cmd.Groups = []GroupSpec{{Name: "api", Network: "net", Min: 0, Max: 2}}
	cmd.Time = at(200)
	h.ok(ApplyTenantType, cmd)
	if _, ok := h.state().Evaluations[GroupKey("acme", "web")]; ok {
		t.Fatal("evaluations kept for a deleted group")
	}
}

// evalCommand generates a record-evaluation for the property test.
func (g *gen) evalCommand() (MessageType, any) {
	e := Evaluation{Time: g.now(), Current: g.r.Intn(6), Serving: g.r.Intn(6), Recommended: g.r.Intn(8),
		Desired: g.r.Intn(8), Average: g.r.Float64(), Load: 5 * g.r.Float64(), Missing: g.r.Intn(4) == 0}
	if g.r.Intn(2) == 0 {
		f, u := 4*g.r.Float64(), 6*g.r.Float64()
		e.Forecast, e.ForecastUpper, e.Model = &f, &u, "holt-winters"
	}
	return RecordEvaluationType, RecordEvaluation{Tenant: g.pick("t1", "t2", "t3"), Group: g.pick("g1", "g2"), Evaluation: e}
}
