package northbound

import (
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"aas/cluster/api"
	"aas/cluster/northbound/wire"
	"aas/fsm"
)

// ActivityCSVHeader is the header row of the activity CSV export.
var ActivityCSVHeader = []string{"time", "seq", "kind", "tenant", "group", "cloud", "from", "to", "direction", "policy", "inputs", "reason"}

// MetricsCSVHeader is the header row of the metrics CSV export: one row
// per group metric point (kind "group": one cloud's point — cloud names it,
// empty for points written without one — cpu is the average over its
// ready instances, instances their number, rps the request rate its load
// balancer sent them, forecast the forecast made for that evaluation,
// rps_measured "true" when rps was measured, "false" when the point carries
// no request rate) and per instance load sample (kind "instance";
// rps_measured empty). Columns are only ever appended at the end.
var MetricsCSVHeader = []string{"time", "kind", "tenant", "group", "cloud", "instance", "instances", "cpu", "rps", "forecast", "rps_measured"}

// timeRange is the since/until selection of the log endpoints.
type timeRange struct{ since, until time.Time }

func (tr timeRange) has(t time.Time) bool {
	return (tr.since.IsZero() || !t.Before(tr.since)) && (tr.until.IsZero() || t.Before(tr.until))
}

// parseTime reads an RFC 3339 time or a duration meaning "that long ago".
func parseTime(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: query parameter %s=%q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration ago (90m)", api.ErrBadRequest, name, v)
}

func (a *API) timeRange(r *http.Request) (timeRange, error) {
	now := a.now()
	q := r.URL.Query()
	var tr timeRange
	var err error
	if tr.since, err = parseTime("since", q.Get("since"), now); err != nil {
		return tr, err
	}
	if tr.until, err = parseTime("until", q.Get("until"), now); err != nil {
		return tr, err
	}
	return tr, nil
}

// wantCSV chooses the format: ?format=csv|json, else Accept: text/csv.
func wantCSV(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case wire.FormatCSV:
		return true, nil
	case wire.FormatJSON:
		return false, nil
	case "":
	default:
		return false, fmt.Errorf("%w: query parameter format=%q: want json or csv", api.ErrBadRequest, f)
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true, nil
		}
	}
	return false, nil
}

// writeCSV answers with a CSV attachment.
func writeCSV(w http.ResponseWriter, name string, fill func(*csv.Writer) error) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	if err := fill(cw); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// FormatTime is the CSV time format: RFC 3339 (ISO 8601) in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// FormatInputs renders decision inputs as k=v;k=v, sorted by key.
func FormatInputs(in map[string]float64) string {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatFloat(in[k], 'g', -1, 64)
	}
	return strings.Join(parts, ";")
}

// Direction is "out", "in" or "none" for a change from → to.
func Direction(from, to int) string {
	switch {
	case to > from:
		return string(fsm.DirectionOut)
	case to < from:
		return string(fsm.DirectionIn)
	}
	return string(fsm.DirectionNone)
}

// WriteActivityCSV writes entries with ActivityCSVHeader.
func WriteActivityCSV(w io.Writer, entries []fsm.ActivityEntry) error {
	cw := csv.NewWriter(w)
	if err := activityRows(cw, entries); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func activityRows(cw *csv.Writer, entries []fsm.ActivityEntry) error {
	if err := cw.Write(ActivityCSVHeader); err != nil {
		return err
	}
	for _, e := range entries {
		dir := ""
		if e.Kind == "scale" {
			dir = Direction(e.From, e.To)
		}
		if err := cw.Write([]string{FormatTime(e.Time), strconv.FormatUint(e.Seq, 10), e.Kind, e.Tenant, e.Group, e.Cloud,
			strconv.Itoa(e.From), strconv.Itoa(e.To), dir, e.Policy, FormatInputs(e.Inputs), e.Reason}); err != nil {
			return err
		}
	}
	return nil
}

func (a *API) handleActivity(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	tr, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	asCSV, err := wantCSV(r)
	if err != nil {
		return nil, err
	}
	f := fsm.ActivityFilter{Tenant: q.Get("tenant"), Group: q.Get("group"), Kind: q.Get("kind")}
	if f.Tenant != "" {
		if err := authorize(r, f.Tenant); err != nil {
			return nil, err
		}
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 0 {
			return nil, fmt.Errorf("%w: query parameter limit=%q: want a count >= 0", api.ErrBadRequest, s)
		}
	}
	var entries []fsm.ActivityEntry
	a.srv.FSM().Read(func(st *fsm.State) { entries = st.ActivityLog(f) })
	out := entries[:0]
	for _, e := range entries {
		if tr.has(e.Time) && visible(r, e.Tenant) {
			out = append(out, e)
		}
	}
	if out == nil {
		out = []fsm.ActivityEntry{}
	}
	if asCSV {
		return nil, writeCSV(w, "activity.csv", func(cw *csv.Writer) error { return activityRows(cw, out) })
	}
	return out, nil
}

// export collects the metric points and load samples selected by the
// request, oldest first within each group and instance.
func (a *API) export(r *http.Request, tr timeRange) wire.MetricsExport {
	q := r.URL.Query()
	tn, gn := q.Get("tenant"), q.Get("group")
	out := wire.MetricsExport{Points: []wire.MetricPoint{}, Samples: []wire.LoadSample{}}
	a.srv.FSM().Read(func(st *fsm.State) {
		var groups []fsm.Group
		switch {
		case tn != "" && gn != "":
			if g, ok := st.Group(tn, gn); ok {
				groups = []fsm.Group{g}
			}
		case tn != "":
			groups = st.TenantGroups(tn)
		default:
			for _, g := range st.AllGroups() {
				if gn == "" || g.Name == gn {
					groups = append(groups, g)
				}
			}
		}
		for _, g := range groups {
			if !visible(r, g.Tenant) {
				continue
			}
			for _, p := range st.MetricHistory(g.Tenant, g.Name) {
				if tr.has(p.Time) {
					out.Points = append(out.Points, wire.MetricPoint{Tenant: g.Tenant, Group: g.Name, MetricPoint: p})
				}
			}
			for _, inst := range st.GroupInstances(g.Tenant, g.Name) {
				for _, s := range st.InstanceSamples(inst.ID) {
					if tr.has(s.Time) {
						out.Samples = append(out.Samples, wire.LoadSample{Tenant: g.Tenant, Group: g.Name,
							Cloud: inst.Cloud, Instance: inst.ID, LoadSample: s})
					}
				}
			}
		}
	})
	return out
}

// WriteMetricsCSV writes an export with MetricsCSVHeader: group points
// first, then instance samples.
func WriteMetricsCSV(w io.Writer, ex wire.MetricsExport) error {
	cw := csv.NewWriter(w)
	if err := metricsRows(cw, ex); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func metricsRows(cw *csv.Writer, ex wire.MetricsExport) error {
	if err := cw.Write(MetricsCSVHeader); err != nil {
		return err
	}
	for _, p := range ex.Points {
		fc := ""
		if p.Forecast != nil {
			fc = num(*p.Forecast)
		}
		if err := cw.Write([]string{FormatTime(p.Time), "group", p.Tenant, p.Group, p.Cloud, "",
			strconv.Itoa(p.Instances), num(p.AvgCPU), num(p.RPS), fc, strconv.FormatBool(p.RPSMeasured)}); err != nil {
			return err
		}
	}
	for _, s := range ex.Samples {
		if err := cw.Write([]string{FormatTime(s.Time), "instance", s.Tenant, s.Group, s.Cloud, s.Instance,
			"", num(s.CPU), num(s.RPS), "", ""}); err != nil {
			return err
		}
	}
	return nil
}

func (a *API) handleMetricsExport(w http.ResponseWriter, r *http.Request) (any, error) {
	tr, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	asCSV, err := wantCSV(r)
	if err != nil {
		return nil, err
	}
	if tn := r.URL.Query().Get("tenant"); tn != "" {
		if err := authorize(r, tn); err != nil {
			return nil, err
		}
	}
	ex := a.export(r, tr)
	if asCSV {
		return nil, writeCSV(w, "metrics.csv", func(cw *csv.Writer) error { return metricsRows(cw, ex) })
	}
	return ex, nil
}
