package fsm

import (
	"time"
)

// RecordEvaluationType is the type byte of record-evaluation (appended after
// the original table; see commands.go for the rule).
const RecordEvaluationType MessageType = 19

// MaxModelLen bounds Evaluation.Model.
const MaxModelLen = 256

// Evaluation is what the leader's autoscaler saw and recommended for a
// group at one evaluation. The history of evaluations is replicated so that
// a new leader honours the same threshold-time and scale-in stabilisation
// windows (it reads the raw recommendations back), and so that the
// dashboard can chart load, capacity and the forecast band over time.
type Evaluation struct {
	Time time.Time `json:"time"`
	// Current counts the group's pending, provisioning and running
	// instances; Serving the ready ones among them.
	Current int `json:"current"`
	Serving int `json:"serving"`
	// Recommended is the raw recommendation before the time-based guards
	// (the scaler's Decision.Recommendation); Desired the decision after
	// every guard.
	Recommended int `json:"recommended"`
	Desired     int `json:"desired"`
	// Average is the group's metric averaged over the metric period, Load
	// the group's total (Average × Serving); both 0 when Missing.
	Average float64 `json:"average"`
	Load    float64 `json:"load"`
	Missing bool    `json:"missing,omitempty"`
	// Forecast is the peak of the forecast total load over the horizon and
	// ForecastUpper the peak of its upper band (predictive policies only).
	Forecast      *float64 `json:"forecast,omitempty"`
	ForecastUpper *float64 `json:"forecast_upper,omitempty"`
	// Model names the fitted forecaster that produced Forecast.
	Model string `json:"model,omitempty"`
}

// RecordEvaluation appends one evaluation to a group's bounded evaluation
// history (Settings.MetricHistoryCap entries, the tenant's Retention
// applies as for metric points). Evaluations must be in time order.
type RecordEvaluation struct {
	Tenant     string     `json:"tenant"`
	Group      string     `json:"group"`
	Evaluation Evaluation `json:"evaluation"`
}

// CommandType implements Command.
func (RecordEvaluation) CommandType() MessageType { return RecordEvaluationType }

func init() {
	registerCommand("record-evaluation", applyRecordEvaluation)
}

func applyRecordEvaluation(s *State, _ uint64, c *RecordEvaluation) (any, error) {
	e := c.Evaluation
	if err := checkTime(e.Time); err != nil {
		return nil, err
	}
	k := GroupKey(c.Tenant, c.Group)
	if s.Groups[k] == nil {
		return nil, reject(ErrNotFound, "group %s", k)
	}
	if e.Current < 0 || e.Serving < 0 || e.Recommended < 0 || e.Desired < 0 {
		return nil, invalid("group %s: evaluation counts must be >= 0", k)
	}
	if e.Average < 0 || e.Load < 0 || !finite(e.Average, e.Load) {
		return nil, invalid("group %s: evaluation average and load must be finite and >= 0", k)
	}
	for _, f := range []*float64{e.Forecast, e.ForecastUpper} {
		if f != nil && (*f < 0 || !finite(*f)) {
			return nil, invalid("group %s: evaluation forecast must be finite and >= 0", k)
		}
	}
	if len(e.Model) > MaxModelLen {
		return nil, invalid("group %s: evaluation model name longer than %d", k, MaxModelLen)
	}
	hist := s.Evaluations[k]
	if n := len(hist); n > 0 && !e.Time.After(hist[n-1].Time) {
		return nil, invalid("group %s: evaluation at %s is not after the last one at %s",
			k, e.Time.UTC().Format(time.RFC3339Nano), hist[n-1].Time.Format(time.RFC3339Nano))
	}
	e.Time = utc(e.Time)
	e.Forecast = copyFloat(e.Forecast)
	e.ForecastUpper = copyFloat(e.ForecastUpper)
	var cutoff time.Time
	if t := s.Tenants[c.Tenant]; t != nil && t.Settings.Retention > 0 {
		cutoff = e.Time.Add(-t.Settings.Retention)
	}
	hist = pushBounded(hist, e, s.Settings.MetricHistoryCap)
	s.Evaluations[k] = dropBefore(hist, cutoff, func(x Evaluation) time.Time { return x.Time })
	return nil, nil
}

func copyFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

// EvaluationHistory returns a copy of a group's evaluations, oldest first.
func (s *State) EvaluationHistory(tenant, group string) []Evaluation {
	return cloneEvaluations(s.Evaluations[GroupKey(tenant, group)])
}

func cloneEvaluations(es []Evaluation) []Evaluation {
	if es == nil {
		return nil
	}
	out := make([]Evaluation, len(es))
	for i, e := range es {
		e.Forecast = copyFloat(e.Forecast)
		e.ForecastUpper = copyFloat(e.ForecastUpper)
		out[i] = e
	}
	return out
}
