/**
 * Plain-text tables and figures for the operator (pure): aligned columns,
 * short peer ids, ages, hardware in a few words.
 */
import type { Hardware } from '../../protocol/index.ts'
import { safeLine } from '../sanitize.ts'

/** The tail of a peer id, as people tell peers apart ("…G25Pq"). */
export function shortPeer (id: string): string {
  const s = safeLine(String(id))
  return s.length > 12 ? `…${s.slice(-6)}` : s
}

export const bpb = (x: number | null | undefined, digits = 6): string => typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-'

export const signed = (x: number | null | undefined, digits = 4): string => typeof x === 'number' && Number.isFinite(x) ? `${x > 0 ? '+' : x < 0 ? '-' : '±'}${Math.abs(x).toFixed(digits)}` : '-'

/** "12s", "5m", "3h", "2d" since `time` (ms epoch). */
export function age (time: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - time) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

export function duration (seconds: number): string {
  const s = Math.floor(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`
}

/** "H100 80GB" or "Intel Xeon … x8": what people compare hardware by. */
export function hardwareShort (hw: Partial<Hardware> | undefined): string {
  if (hw == null) return '-'
  if (hw.gpu != null && hw.gpu !== '') return safeLine(hw.gpu, 24)
  const cpu = safeLine(String(hw.cpu ?? 'cpu').replace(/\((R|TM)\)|CPU|@.*$|Processor/gi, ' '), 20)
  return `${cpu} x${safeLine(String(hw.cores ?? '?'), 6)}`
}

/** Columns padded to their widest cell; the last column is left ragged. Cells are peers' words: one clean line each (node/sanitize.ts). */
export function table (header: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const clean = rows.map(r => r.map(c => safeLine(String(c), 200)))
  const widths = header.map((h, i) => Math.max(h.length, ...clean.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => {
    if (i === cells.length - 1) return c
    return align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)
  }).join('  ').trimEnd()
  return [line(header), ...clean.map(line)].join('\n')
}
