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
  return { metric, threshold, kinds, text, model };
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
