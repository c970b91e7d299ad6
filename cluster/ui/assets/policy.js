// Reading a group's policy as the controller stores it (scaler.GroupSpec
// as JSON): which policies, which metric, which per-instance threshold.

const DEFAULT_TARGET = 0.6;
const KINDS = ['scheduled', 'reactive', 'target', 'step', 'simple', 'proactive', 'predictive'];
const LABELS = { target: 'target tracking', step: 'step', simple: 'simple', reactive: 'reactive', proactive: 'proactive', predictive: 'predictive', scheduled: 'scheduled' };

function kindOf(p) {
  return KINDS.find((k) => p && p[k]) || '';
}

/** threshold is the per-instance value capacity is drawn at. */
function thresholdOf(spec) {
  for (const p of spec.policies || []) {
    const k = kindOf(p);
    const b = p[k] || {};
    const v = k === 'reactive' ? b.threshold : k === 'target' || k === 'predictive' || k === 'proactive' ? b.target : b.threshold;
    if (typeof v === 'number' && v > 0) return v;
  }
  return spec.target > 0 ? spec.target : DEFAULT_TARGET;
}

/**
 * describe returns {metric, threshold, kinds, text, model} for a group's
 * policy (null or malformed policies give the defaults).
 */
export function describe(policy) {
  const spec = policy && typeof policy === 'object' ? policy : {};
  const metric = spec.metric || 'cpu';
  const threshold = thresholdOf(spec);
  const kinds = (spec.policies || []).map(kindOf).filter(Boolean);
  const dynamic = kinds.filter((k) => k !== 'scheduled');
  let name;
  if (kinds.length === 0) name = 'fixed size';
  else if (dynamic.length && kinds.includes('scheduled')) name = `custom (scheduled + ${[...new Set(dynamic)].map((k) => LABELS[k]).join(' + ')})`;
  else name = [...new Set(kinds)].map((k) => LABELS[k]).join(' + ');
  const pred = (spec.policies || []).find((p) => p && p.predictive);
  const model = pred ? pred.predictive.model || 'auto' : '';
  const thr = metric === 'cpu' || metric === 'memory' ? `${Math.round(threshold * 100)}%` : String(threshold);
  const text = kinds.length ? `${name}${model ? ` (${model})` : ''} · ${metric} ${thr}` : name;
  const periodMs = durationMs(spec.metric_period) || 60e3;
  return { metric, threshold, kinds, text, model, periodMs };
}

/** loadOf is a metric point's total load in the unit capacity is drawn in. */
export function loadOf(point, metric) {
  if (metric === 'rps') return point.rps;
  return point.avg_cpu * point.instances;
}

/** unitOf names the y axis. */
export function unitOf(metric) {
  switch (metric) {
    case 'rps': return 'requests/s';
    case 'memory': return 'memory (instance units)';
    default: return 'CPU (busy instance-equivalents)';
  }
}

const UNIT_MS = { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, 'µs': 1e-3, ns: 1e-6 };

/** durationMs reads a Go duration ("1m0s", "30s", or seconds); 0 if absent. */
export function durationMs(v) {
  if (typeof v === 'number') return v * 1e3;
  if (typeof v !== 'string') return 0;
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g)) ms += parseFloat(m[1]) * UNIT_MS[m[2]];
  return ms;
}

const STALE_GAPS = 2.5;

/**
 * mergeClouds turns a group's metric points — one cloud's view each
 * (`cloud`; none: one cloud of its own), interleaved oldest first — into
 * group totals, as the autoscaler reads them (cluster/autoscale/merge.go):
 * at every point time, each cloud's latest point that is not older than
 * 2.5 × that cloud's last gap between two of its points (periodMs while it
 * has one) is summed: instances = Σn, avg_cpu = Σcpu·n / Σn, rps = Σrps.
 * A point of a single fresh cloud comes back as it is.
 */
export function mergeClouds(points, periodMs) {
  const clouds = new Map();
  const out = [];
  points.forEach((p, i) => {
    const t = Date.parse(p.time);
    const name = p.cloud || '';
    const c = clouds.get(name);
    clouds.set(name, { p, t, gap: c ? t - c.t : 0 });
    const next = points[i + 1];
    if (next && Date.parse(next.time) === t) return; // one point per time
    const fresh = [...clouds.keys()].sort().map((k) => clouds.get(k))
      .filter((c) => t - c.t <= STALE_GAPS * (c.gap > 0 ? c.gap : periodMs));
    if (fresh.length === 1) {
      out.push({ ...fresh[0].p, time: p.time });
      return;
    }
    const n = fresh.reduce((a, c) => a + c.p.instances, 0);
    const cpu = fresh.reduce((a, c) => a + c.p.avg_cpu * c.p.instances, 0);
    out.push({
      time: p.time, instances: n, avg_cpu: n > 0 ? cpu / n : 0,
      rps: fresh.reduce((a, c) => a + c.p.rps, 0), rps_measured: fresh.every((c) => c.p.rps_measured),
    });
  });
  return out;
}
