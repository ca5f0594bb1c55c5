// The dashboard's val_bpb-over-time chart, drawn as inline SVG by the page
// itself (no chart library, nothing fetched). One chart per track: this
// node's experiments as dots, its baseline as a step line, and the swarm's
// best-known kept result as a dashed step line.
'use strict'
;(function () {
  const NS = 'http://www.w3.org/2000/svg'
  const C = { mine: '#2563eb', keep: '#16a34a', discard: '#b6bcc6', crash: '#dc2626', swarm: '#ea580c', grid: '#eef0f3', axis: '#6b7280', text: '#374151' }

  function el (name, attrs, parent, text) {
    const e = document.createElementNS(NS, name)
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v))
    if (text != null) e.textContent = text
    if (parent) parent.appendChild(e)
    return e
  }

  function niceTicks (lo, hi, n) {
    const span = hi - lo
    if (!(span > 0)) return [lo]
    const raw = span / n
    const mag = Math.pow(10, Math.floor(Math.log10(raw)))
    const step = ([1, 2, 2.5, 5, 10].find(m => m * mag >= raw) || 10) * mag
    const out = []
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)))
    return out
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map(s => s * 1000)
  function timeTicks (lo, hi, n) {
    const step = TIME_STEPS.find(s => (hi - lo) / s <= n) || 86400000 * Math.ceil((hi - lo) / n / 86400000)
    const out = []
    for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t)
    return { ticks: out, step }
  }
  function timeLabel (t, step) {
    const d = new Date(t)
    const p = x => String(x).padStart(2, '0')
    if (step >= 86400000) return `${d.getMonth() + 1}/${d.getDate()}`
    return step < 60000 ? `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}` : `${p(d.getHours())}:${p(d.getMinutes())}`
  }

  /** Running value of a step series: each anchor holds until the next. */
  function stepPath (pts, X, Y, xEnd) {
    if (pts.length === 0) return ''
    let d = `M${X(pts[0].t).toFixed(1)},${Y(pts[0].v).toFixed(1)}`
    for (const p of pts.slice(1)) d += ` H${X(p.t).toFixed(1)} V${Y(p.v).toFixed(1)}`
    return d + ` H${xEnd.toFixed(1)}`
  }

  /**
   * spec: { track, mine: [{ t, v, status, seq, label }], swarm: [{ t, v, label }] }
   * (mine: this node's experiments, in any order; swarm: kept results of every peer, this node's included).
   */
  function draw (container, spec) {
    const W = 960; const H = 320; const M = { l: 64, r: 16, t: 28, b: 34 }
    const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `val_bpb over time on track ${spec.track}`, 'data-track': spec.track })
    // This node's baseline over time: its keeps and baselines joined in the order they happened, not the
    // order they arrived (the history and the live feed interleave), so it ends at the latest: the baseline now.
    const mineBase = spec.mine.filter(p => p.v != null && (p.status === 'keep' || p.status === 'baseline'))
      .sort((a, b) => a.t - b.t || (a.seq || 0) - (b.seq || 0))
    const swarmBest = []
    for (const p of [...spec.swarm].filter(p => p.v != null).sort((a, b) => a.t - b.t)) {
      if (swarmBest.length === 0 || p.v < swarmBest[swarmBest.length - 1].v) swarmBest.push(p)
    }
    const valued = spec.mine.filter(p => p.v != null)
    const anchors = mineBase.concat(swarmBest)
    const all = valued.concat(swarmBest)
    const times = spec.mine.map(p => p.t).concat(swarmBest.map(p => p.t))
    if (times.length === 0) { el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: C.axis }, svg, 'no results on this track yet'); container.appendChild(svg); return svg }
    const best = Math.min(...all.map(p => p.v))
    const top = anchors.length > 0 ? Math.max(...anchors.map(p => p.v)) : Math.max(...all.map(p => p.v))
    const spread = top > best ? top - best : Math.max(Math.abs(best) * 0.01, 0.01)
    const yLo = best - spread * 0.1
    const yHi = Math.min(Math.max(...all.map(p => p.v)), top + spread * 0.6) + spread * 0.05
    const now = Date.now()
    let xLo = Math.min(...times); let xHi = Math.max(now, ...times)
    if (xHi - xLo < 10000) xLo = xHi - 10000
    const pad = (xHi - xLo) * 0.02; xLo -= pad; xHi += pad
    const X = t => M.l + (t - xLo) / (xHi - xLo) * (W - M.l - M.r)
    const Y = v => M.t + (1 - (Math.min(v, yHi) - yLo) / (yHi - yLo)) * (H - M.t - M.b)

    const yt = niceTicks(yLo, yHi, 5)
    const digits = yt.length < 2 ? 4 : Math.min(6, Math.max(0, -Math.floor(Math.log10(yt[1] - yt[0]) - 1e-9)))
    for (const v of yt) {
      el('line', { x1: M.l, x2: W - M.r, y1: Y(v), y2: Y(v), stroke: C.grid }, svg)
      el('text', { x: M.l - 6, y: Y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: C.text }, svg, v.toFixed(digits))
    }
    const { ticks, step } = timeTicks(xLo, xHi, 8)
    for (const t of ticks) {
      el('line', { x1: X(t), x2: X(t), y1: M.t, y2: H - M.b, stroke: C.grid }, svg)
      el('text', { x: X(t), y: H - M.b + 16, 'text-anchor': 'middle', 'font-size': 11, fill: C.text }, svg, timeLabel(t, step))
    }
    el('rect', { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, fill: 'none', stroke: C.axis }, svg)
    el('text', { x: 14, y: M.t + (H - M.t - M.b) / 2, transform: `rotate(-90 14 ${M.t + (H - M.t - M.b) / 2})`, 'text-anchor': 'middle', 'font-size': 12, fill: C.text }, svg, 'val_bpb')
    el('text', { x: M.l, y: 18, 'font-size': 13, 'font-weight': 600, fill: C.text }, svg, `track ${spec.track}`)

    // The swarm's line goes on top, dashed, so where both agree each stays visible.
    el('path', { class: 'my-baseline', d: stepPath(mineBase, X, Y, X(xHi - pad)), fill: 'none', stroke: C.mine, 'stroke-width': 2.5 }, svg)
    el('path', { class: 'swarm-best', d: stepPath(swarmBest, X, Y, X(xHi - pad)), fill: 'none', stroke: C.swarm, 'stroke-width': 2, 'stroke-dasharray': '7 5' }, svg)
    for (const p of spec.mine) {
      const color = p.status === 'keep' ? C.keep : p.status === 'baseline' ? C.mine : p.status === 'crash' || p.status === 'invalid' ? C.crash : C.discard
      const y = p.v == null ? H - M.b - 6 : Y(p.v)
      const dot = el('circle', { class: `pt ${p.status}`, cx: X(p.t), cy: y, r: p.status === 'keep' || p.status === 'baseline' ? 4.5 : 3, fill: color }, svg)
      el('title', {}, dot, `${p.label} — ${p.status} ${p.v == null ? '' : p.v.toFixed(6)}`)
    }
    for (const p of swarmBest) el('title', {}, el('circle', { cx: X(p.t), cy: Y(p.v), r: 3, fill: C.swarm }, svg), `swarm best ${p.v.toFixed(6)}: ${p.label}`)

    const legend = [[C.mine, 'this node: baseline', false], [C.swarm, 'swarm best', true], [C.keep, 'kept', null], [C.discard, 'discarded', null]]
    let lx = W - M.r - 420
    for (const [color, name, dashed] of legend) {
      if (dashed == null) el('circle', { cx: lx + 6, cy: 14, r: 4, fill: color }, svg)
      else el('line', { x1: lx, x2: lx + 14, y1: 14, y2: 14, stroke: color, 'stroke-width': 2, 'stroke-dasharray': dashed ? '5 3' : '' }, svg)
      el('text', { x: lx + 18, y: 18, 'font-size': 11, fill: C.text }, svg, name)
      lx += 18 + name.length * 6.5 + 16
    }
    container.appendChild(svg)
    return svg
  }

  window.SwarmChart = { draw }
})()
