/**
 * What was tried, here and in the swarm, as one line per experiment for a
 * prompt: most relevant first (tried against the current baseline), then
 * newest. Peers' words are untrusted text, so they are flattened to one short
 * line and quoted; they reach the model as data, never as instructions.
 */
import { claimedFigure, type ClaimMsg, type ResultMsg } from '../../protocol/index.ts'
import type { PastExperiment } from './types.ts'

const PEER_TEXT_CHARS = 160
const REASON_CHARS = 100

/** One printable line, cut short: what a peer wrote cannot break out of its list item. */
export function quote (text: string, max = PEER_TEXT_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069`]+/g, ' ').replace(/\s+/g, ' ').trim()
  return JSON.stringify(clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`)
}

function figure (x: number | null | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : '-'
}

/** "-0.0123" for a gain (lower is better), "+0.0040" for a loss. */
function delta (value: number | null | undefined, base: number | null | undefined): string {
  if (typeof value !== 'number' || typeof base !== 'number' || !Number.isFinite(value) || !Number.isFinite(base)) return ''
  const d = value - base
  return ` (${d <= 0 ? '' : '+'}${d.toFixed(4)} vs ${base.toFixed(4)})`
}

function age (ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.round(s / 60)}m ago`
  return `${Math.round(s / 3600)}h ago`
}

/** Local experiments, baseline rows left out: this baseline's first, newest first within each group. */
export function localLines (history: PastExperiment[], parent: string, metric = 'val_bpb'): string[] {
  const rows = history.map((h, i) => ({ h, i })).filter(({ h }) => h.status !== 'baseline')
  rows.sort((a, b) => Number(b.h.parent === parent) - Number(a.h.parent === parent) || b.i - a.i)
  return rows.map(({ h }) => {
    const here = h.parent === parent ? 'this baseline' : 'an earlier baseline'
    const value = h.status === 'crash' ? `crash: ${quote(h.reason ?? '', REASON_CHARS)}` : `${metric} ${figure(h.val_bpb)}${delta(h.val_bpb, h.baseline_bpb)}`
    return `- [${h.status}] ${quote(h.description)} — ${value}; on ${here}${h.proposer != null ? `, by ${h.proposer}` : ''}`
  })
}

function baselineOf (r: ResultMsg): number | null {
  const b = r.metrics?.baseline_bpb
  return typeof b === 'number' ? b : null
}

/** Peers' results: on our baseline first, then our track, then the rest; newest first within each. */
export function swarmLines (results: ResultMsg[], ctx: { baselineContent?: string, track?: string, now: number, metric?: string }): string[] {
  const rank = (r: ResultMsg): number => (r.parent === ctx.baselineContent ? 2 : 0) + (r.track === ctx.track ? 1 : 0)
  const sorted = [...results].sort((a, b) => rank(b) - rank(a) || b.time - a.time)
  return sorted.map(r => {
    const value = r.status === 'crash' ? `crash: ${quote(r.reason, REASON_CHARS)}` : `${ctx.metric ?? 'val_bpb'} ${figure(claimedFigure(r))}${delta(claimedFigure(r), baselineOf(r))}`
    const where = [r.parent === ctx.baselineContent ? 'on this baseline' : 'on another baseline', r.track === ctx.track ? 'same track' : `track ${r.track}`]
    return `- [${r.status}] ${quote(r.description)} — ${value}; ${where.join(', ')}, ${age(r.time, ctx.now)}, peer ${r.author.slice(-8)}`
  })
}

/** Live claims: those on our baseline first (the ones we must not duplicate), newest first. */
export function claimLines (claims: ClaimMsg[], ctx: { baselineContent?: string, now: number }): string[] {
  const live = claims.filter(c => c.expires > ctx.now)
  live.sort((a, b) => Number(b.parent === ctx.baselineContent) - Number(a.parent === ctx.baselineContent) || b.time - a.time)
  return live.map(c => `- ${quote(c.description)} — ${c.parent === ctx.baselineContent ? 'on this baseline' : 'on another baseline'}, started ${age(c.time, ctx.now)}, peer ${c.author.slice(-8)}`)
}

/**
 * Content hashes already tried against this baseline, here or by trusted
 * peers (the swarm's tried view: what they ran or are running now), with what
 * came of them, so a repeat is refused in words the model understands.
 */
export function triedOutcomes (history: PastExperiment[], parent: string, swarmTried?: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>()
  for (const h of history) {
    if (h.parent === parent && h.child != null && h.status !== 'baseline') out.set(h.child, `${h.status}: ${quote(h.description)}`)
  }
  for (const [child, what] of swarmTried ?? []) if (!out.has(child)) out.set(child, what)
  return out
}
