/**
 * The progress chart of autoresearch's progress.png, as SVG (pure): val_bpb
 * of every experiment by number, discarded ones as grey dots, kept ones green
 * and labelled, and the running best as a step line. Crashes have no figure
 * and sit as red marks along the bottom; figures far above the baseline are
 * clipped to the top edge so the interesting range stays readable.
 */
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { countRecords, countsPhrase, recordFigure } from './control/records.ts'

export interface PlotOptions { title?: string, width?: number, height?: number }

const M = { left: 84, right: 32, top: 64, bottom: 64 }
const COLORS = { discard: '#c8c8c8', keep: '#2ecc71', keepEdge: '#1e8449', best: '#27ae60', baseline: '#3498db', crash: '#e74c3c', grid: '#ececec', axis: '#444', text: '#222' }

const esc = (s: string): string => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
const f = (x: number): string => (Math.round(x * 10) / 10).toString()

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks (lo: number, hi: number, n = 6): number[] {
  const span = hi - lo
  if (!(span > 0)) return [lo]
  const raw = span / n
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 2.5, 5, 10].find(m => m * mag >= raw) ?? 10) * mag
  const out: number[] = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)))
  return out
}

/** Digits enough to tell ticks `step` apart. */
const digitsFor = (ticks: number[]): number => ticks.length < 2 ? 4 : Math.min(6, Math.max(0, -Math.floor(Math.log10(Math.abs(ticks[1]! - ticks[0]!)) - 1e-9)))

/** The statuses where the baseline moved: a keep, a (re)measured baseline, one adopted with no run or gone back to. */
const moved = (status: string): boolean => status === 'keep' || status === 'baseline' || status === 'adopted' || status === 'restored'

export function renderProgressSvg (records: ExperimentRecord[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 1200
  const H = opts.height ?? 600
  const pts = records.map(r => ({ seq: r.seq, status: r.status, value: r.status === 'crash' ? null : recordFigure(r), description: r.description }))
  const valued = pts.filter(p => p.value != null) as Array<typeof pts[number] & { value: number }>
  const anchors = valued.filter(p => moved(p.status))

  const best = Math.min(...valued.map(p => p.value), Infinity)
  const top = anchors.length > 0 ? Math.max(...anchors.map(p => p.value)) : Math.max(...valued.map(p => p.value), -Infinity)
  const spread = Number.isFinite(best) && top > best ? top - best : Math.max(Math.abs(best) * 0.01, 0.01)
  const yLo = Number.isFinite(best) ? best - spread * 0.1 : 0
  const yHi = Number.isFinite(best) ? Math.min(Math.max(...valued.map(p => p.value)), top + spread) + spread * 0.05 : 1
  const seqs = pts.map(p => p.seq)
  const xLo = seqs.length > 0 ? Math.min(...seqs) - 0.5 : 0
  const xHi = seqs.length > 0 ? Math.max(...seqs) + 0.5 : 1
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const X = (s: number): number => M.left + (s - xLo) / (xHi - xLo) * pw
  const Y = (v: number): number => M.top + (1 - (Math.min(v, yHi) - yLo) / (yHi - yLo)) * ph

  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`)
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`)
  const title = `${opts.title ?? 'swarm-node progress'}: ${countsPhrase(countRecords(records))}`
  out.push(`<text x="${W / 2}" y="32" text-anchor="middle" font-size="18" fill="${COLORS.text}">${esc(title)}</text>`)

  const yTicks = niceTicks(yLo, yHi)
  const yDigits = digitsFor(yTicks)
  for (const t of yTicks) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${f(Y(t))}" y2="${f(Y(t))}" stroke="${COLORS.grid}"/>`)
    out.push(`<text x="${M.left - 8}" y="${f(Y(t) + 4)}" text-anchor="end" font-size="12" fill="${COLORS.text}">${t.toFixed(yDigits)}</text>`)
  }
  for (const t of niceTicks(xLo, xHi, 10).filter(t => Number.isInteger(t))) {
    out.push(`<line x1="${f(X(t))}" x2="${f(X(t))}" y1="${M.top}" y2="${H - M.bottom}" stroke="${COLORS.grid}"/>`)
    out.push(`<text x="${f(X(t))}" y="${H - M.bottom + 18}" text-anchor="middle" font-size="12" fill="${COLORS.text}">${t}</text>`)
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="${COLORS.axis}"/>`)
  out.push(`<text x="${M.left + pw / 2}" y="${H - 16}" text-anchor="middle" font-size="14" fill="${COLORS.text}">Experiment #</text>`)
  out.push(`<text transform="translate(22 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="14" fill="${COLORS.text}">Validation BPB (lower is better)</text>`)

  // The running best: flat until the next keep, then down (or to a new baseline).
  if (anchors.length > 0) {
    const d: string[] = [`M${f(X(anchors[0]!.seq))},${f(Y(anchors[0]!.value))}`]
    for (const a of anchors.slice(1)) d.push(`H${f(X(a.seq))}`, `V${f(Y(a.value))}`)
    d.push(`H${f(X(xHi - 0.5))}`)
    out.push(`<path d="${d.join(' ')}" fill="none" stroke="${COLORS.best}" stroke-width="2" opacity="0.8"/>`)
  }
  for (const p of pts) {
    const tip = `<title>#${p.seq} ${esc(p.status)} ${p.value?.toFixed(6) ?? '-'}: ${esc(p.description)}</title>`
    if (p.value == null || p.status === 'crash') {
      const x = X(p.seq)
      const y = H - M.bottom - 8
      out.push(`<path d="M${f(x - 4)},${f(y - 4)} L${f(x + 4)},${f(y + 4)} M${f(x - 4)},${f(y + 4)} L${f(x + 4)},${f(y - 4)}" stroke="${COLORS.crash}" stroke-width="1.5">${tip}</path>`)
    } else if (p.value > yHi) {
      const x = X(p.seq)
      const y = M.top + 6
      out.push(`<path d="M${f(x)},${f(y - 5)} L${f(x + 4)},${f(y + 2)} L${f(x - 4)},${f(y + 2)} Z" fill="${COLORS.discard}">${tip}</path>`)
    } else if (moved(p.status)) {
      const fill = p.status === 'baseline' ? COLORS.baseline : COLORS.keep
      out.push(`<circle cx="${f(X(p.seq))}" cy="${f(Y(p.value))}" r="5.5" fill="${fill}" stroke="${COLORS.keepEdge}" stroke-width="1">${tip}</circle>`)
      const label = p.description.length > 48 ? p.description.slice(0, 47) + '…' : p.description
      out.push(`<text transform="translate(${f(X(p.seq) + 7)} ${f(Y(p.value) - 7)}) rotate(-25)" font-size="10" fill="${COLORS.keepEdge}">${esc(label)}</text>`)
    } else {
      out.push(`<circle cx="${f(X(p.seq))}" cy="${f(Y(p.value))}" r="3.5" fill="${COLORS.discard}" opacity="0.9">${tip}</circle>`)
    }
  }

  // Every mark drawn has its entry: the off-scale and crash marks only when the chart has some.
  const offScale = pts.filter(p => p.value != null && p.status !== 'crash' && p.value > yHi).length
  const crashed = pts.filter(p => p.value == null || p.status === 'crash').length
  type Mark = 'dot' | 'line' | 'triangle' | 'cross'
  const legend: Array<[Mark, string, string]> = [['dot', COLORS.discard, 'Discarded'], ['dot', COLORS.keep, 'Kept'], ['line', COLORS.best, 'Running best']]
  if (offScale > 0) legend.push(['triangle', COLORS.discard, `Off the scale, above (${offScale})`])
  if (crashed > 0) legend.push(['cross', COLORS.crash, `Crashed, no figure (${crashed})`])
  legend.forEach(([mark, color, name], i) => {
    const x = W - M.right - 190
    const y = M.top + 18 + i * 18
    const c = y - 4
    out.push(mark === 'line'
      ? `<line x1="${x - 6}" x2="${x + 6}" y1="${c}" y2="${c}" stroke="${color}" stroke-width="2"/>`
      : mark === 'triangle'
        ? `<path class="legend-off-scale" d="M${x},${c - 5} L${x + 4},${c + 2} L${x - 4},${c + 2} Z" fill="${color}"/>`
        : mark === 'cross'
          ? `<path class="legend-crash" d="M${x - 4},${c - 4} L${x + 4},${c + 4} M${x - 4},${c + 4} L${x + 4},${c - 4}" stroke="${color}" stroke-width="1.5"/>`
          : `<circle cx="${x}" cy="${c}" r="4.5" fill="${color}"/>`)
    out.push(`<text x="${x + 12}" y="${y}" font-size="12" fill="${COLORS.text}">${esc(name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
