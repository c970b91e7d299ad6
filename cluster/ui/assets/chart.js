// One group's load chart as inline SVG: load (area + line + points),
// capacity (instances × threshold, a step line), the forecast (line, and
// the band up to the forecast's upper bound when the scaler recorded one)
// and scaling actions as markers whose tooltip is the decision's reason.

import { s, h, clock, fmt } from './dom.js';
import { loadOf, unitOf } from './policy.js';

const W = 640, H = 250;
const M = { top: 18, right: 14, bottom: 26, left: 48 };
const IW = W - M.left - M.right, IH = H - M.top - M.bottom;
const MAX_DOTS = 400;

/** niceTicks returns about n round tick values covering [0, max]. */
function niceTicks(max, n = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function pathOf(pts) {
  return pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
}

function stepPathOf(pts) {
  let d = '';
  pts.forEach(([x, y], i) => {
    if (i === 0) d += `M${x.toFixed(1)},${y.toFixed(1)}`;
    else d += `H${x.toFixed(1)}V${y.toFixed(1)}`;
  });
  return d;
}

/**
 * drawChart renders the chart.
 * points: metric points oldest first ({time, avg_cpu, rps, instances, forecast?});
 * evals: evaluations ({time, forecast?, forecast_upper?});
 * actions: activity entries of kind "scale" with from != to;
 * info: {metric, threshold, title}.
 * Returns {svg, summary}.
 */
export function drawChart(points, evals, actions, info) {
  const metric = info.metric;
  const series = points.map((p) => ({
    t: Date.parse(p.time), load: loadOf(p, metric), cap: p.instances * info.threshold,
    inst: p.instances, fc: typeof p.forecast === 'number' ? p.forecast : null,
  })).filter((p) => Number.isFinite(p.t));
  const band = evals.filter((e) => typeof e.forecast === 'number').map((e) => ({
    t: Date.parse(e.time), mean: e.forecast, upper: typeof e.forecast_upper === 'number' ? e.forecast_upper : e.forecast,
  })).filter((e) => Number.isFinite(e.t));
  const marks = actions.map((a) => ({ t: Date.parse(a.time), a })).filter((m) => Number.isFinite(m.t));

  const times = [...series.map((p) => p.t), ...band.map((b) => b.t)];
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (!Number.isFinite(t0)) { t1 = Date.now(); t0 = t1 - 60e3; }
  if (t1 - t0 < 60e3) t0 = t1 - 60e3;
  const visibleMarks = marks.filter((m) => m.t >= t0 && m.t <= t1);
  const ymax = Math.max(1e-9, ...series.map((p) => Math.max(p.load, p.cap, p.fc ?? 0)), ...band.map((b) => b.upper)) * 1.08;
  const ticks = niceTicks(ymax);
  const top = ticks[ticks.length - 1];
  const x = (t) => M.left + ((t - t0) / (t1 - t0)) * IW;
  const y = (v) => M.top + IH - (v / top) * IH;

  const svg = s('svg', { class: 'plot', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': info.title, 'data-points': series.length });
  svg.append(s('title', null, info.title));

  // Grid and axes.
  const grid = s('g', { class: 'grid' });
  for (const v of ticks) {
    grid.append(s('line', { x1: M.left, x2: M.left + IW, y1: y(v), y2: y(v) }));
    grid.append(s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  const xticks = 5;
  for (let i = 0; i <= xticks; i++) {
    const t = t0 + ((t1 - t0) * i) / xticks;
    grid.append(s('text', { x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === xticks ? 'end' : 'middle' }, clock(new Date(t).toISOString())));
  }
  svg.append(grid);
  svg.append(s('line', { class: 'axis', x1: M.left, x2: M.left + IW, y1: y(0), y2: y(0) }));
  svg.append(s('text', { x: M.left, y: M.top - 6 }, unitOf(metric)));

  // Forecast band (mean to upper), then the forecast line.
  if (band.length > 1) {
    const upper = band.map((b) => [x(b.t), y(b.upper)]);
    const lower = band.map((b) => [x(b.t), y(b.mean)]).reverse();
    svg.append(s('path', { class: 'band', d: `${pathOf(upper)}L${lower.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join('L')}Z` }));
  }
  const fcPts = band.length > 1 ? band.map((b) => [x(b.t), y(b.mean)]) : series.filter((p) => p.fc !== null).map((p) => [x(p.t), y(p.fc)]);
  if (fcPts.length > 1) svg.append(s('path', { class: 'fc', d: pathOf(fcPts) }));

  // Capacity and load.
  if (series.length) {
    svg.append(s('path', { class: 'cap', d: stepPathOf(series.map((p) => [x(p.t), y(p.cap)])) }));
    const lp = series.map((p) => [x(p.t), y(p.load)]);
    svg.append(s('path', { class: 'load-area', d: `${pathOf(lp)}L${lp[lp.length - 1][0].toFixed(1)},${y(0)}L${lp[0][0].toFixed(1)},${y(0)}Z` }));
    svg.append(s('path', { class: 'load', d: pathOf(lp) }));
    const dots = s('g', { class: 'dots' });
    const every = Math.max(1, Math.ceil(series.length / MAX_DOTS));
    series.forEach((p, i) => {
      if (i % every && i !== series.length - 1) return;
      dots.append(s('circle', { class: 'pt', cx: x(p.t).toFixed(1), cy: y(p.load).toFixed(1), r: series.length > 120 ? 1.3 : 2.2 }));
    });
    svg.append(dots);
  }

  // Scaling actions.
  const tip = h('div', { class: 'tip', 'aria-live': 'polite' });
  const marksG = s('g', { class: 'marks' });
  for (const m of visibleMarks) {
    const out = m.a.to > m.a.from;
    const mx = x(m.t);
    const text = `${clock(m.a.time)} scale ${out ? 'out' : 'in'} ${m.a.from} → ${m.a.to}${m.a.policy ? ` (${m.a.policy})` : ''}: ${m.a.reason || 'no reason recorded'}`;
    const tri = out ? `M${mx - 5},${M.top + 1}L${mx + 5},${M.top + 1}L${mx},${M.top - 7}Z` : `M${mx - 5},${M.top - 7}L${mx + 5},${M.top - 7}L${mx},${M.top + 1}Z`;
    const g = s('g', { class: `marker ${out ? 'out' : 'in'}`, tabindex: 0, role: 'img', 'aria-label': text, 'data-reason': m.a.reason || '' },
      s('title', null, text),
      s('line', { x1: mx, x2: mx, y1: M.top, y2: y(0) }),
      s('path', { d: tri }),
      s('rect', { class: 'hit', x: mx - 6, y: M.top - 8, width: 12, height: IH + 8 }));
    const show = () => { tip.textContent = text; };
    g.addEventListener('mouseenter', show);
    g.addEventListener('focus', show);
    marksG.append(g);
  }
  svg.append(marksG);

  // Hover read-out of the nearest point.
  if (series.length) {
    const cursor = s('line', { class: 'axis', x1: M.left, x2: M.left, y1: M.top, y2: y(0), 'stroke-dasharray': '2 2', visibility: 'hidden' });
    svg.append(cursor);
    svg.addEventListener('mousemove', (ev) => {
      if (ev.target.closest && ev.target.closest('.marker')) return;
      const r = svg.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * W;
      const t = t0 + ((px - M.left) / IW) * (t1 - t0);
      let best = series[0];
      for (const p of series) if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p;
      cursor.setAttribute('x1', x(best.t)); cursor.setAttribute('x2', x(best.t));
      cursor.setAttribute('visibility', 'visible');
      tip.textContent = `${clock(new Date(best.t).toISOString())} · load ${fmt(best.load)} · capacity ${fmt(best.cap)} (${best.inst} × ${fmt(info.threshold)})${best.fc !== null ? ` · forecast ${fmt(best.fc)}` : ''}`;
    });
    svg.addEventListener('mouseleave', () => cursor.setAttribute('visibility', 'hidden'));
  }

  const last = series[series.length - 1];
  const summary = last
    ? `load ${fmt(last.load)} / capacity ${fmt(last.cap)} · ${last.inst} instance${last.inst === 1 ? '' : 's'}${visibleMarks.length ? ` · ${visibleMarks.length} scaling action${visibleMarks.length === 1 ? '' : 's'}` : ''}`
    : 'no metric points yet';
  return { svg, tip, summary, hasForecast: fcPts.length > 1, hasBand: band.length > 1 };
}
