/**
 * Turns what the local loop did into wire messages (unsigned bodies): the
 * loop's records are rich and loose, the protocol is strict and bounded, so
 * everything is trimmed to the protocol's limits here, in one place.
 */
import {
  MAX_BPB, MAX_DESCRIPTION_CHARS, MAX_DIFF_BYTES, MAX_METRICS, METRIC_KEY_PATTERN, wireFigures,
  type AttestationMsg, type ClaimMsg, type Hardware, type ResultMsg, type StatusMsg, type Unsigned
} from '../../protocol/index.ts'
import type { ExperimentOrigin, ExperimentRecord } from '../../trainer/results-log.ts'
import { safeLine } from '../sanitize.ts'

/** One printable line (escape sequences and controls gone, see node/sanitize.ts), cut to the protocol's limit. */
export function oneLine (s: string, max = MAX_DESCRIPTION_CHARS): string {
  return safeLine(s, max)
}

/** Finite numeric metrics with protocol-shaped keys (autoresearch prints `num_params_M`). */
export function wireMetrics (metrics: Record<string, unknown>, extra: Record<string, number | null | undefined> = {}): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries({ ...extra, ...metrics })) {
    const key = k.toLowerCase()
    if (typeof v !== 'number' || !Number.isFinite(v) || !METRIC_KEY_PATTERN.test(key) || key in out) continue
    if (Object.keys(out).length >= MAX_METRICS) break
    out[key] = v
  }
  return out
}

/** A diff over the wire limit is cut at a line boundary and says so. */
export function wireDiff (diff: string): string {
  const enc = new TextEncoder()
  if (enc.encode(diff).byteLength <= MAX_DIFF_BYTES) return diff
  const note = '\n# (diff truncated: fetch the content by its hash for the full change)\n'
  let cut = diff.slice(0, MAX_DIFF_BYTES - note.length - 4)
  while (enc.encode(cut).byteLength > MAX_DIFF_BYTES - note.length) cut = cut.slice(0, -1024)
  return cut.slice(0, cut.lastIndexOf('\n') + 1) + note
}

const bpb = (x: unknown): number | null => typeof x === 'number' && Number.isFinite(x) && x > 0 && x <= MAX_BPB ? x : null

/** The record's figure and whether this node verified it, as the wire carries them (protocol/figure.ts). */
function figures (rec: ExperimentRecord): { val_bpb: number | null, verified_bpb: number | null } {
  const { val_bpb, verified_bpb } = wireFigures(rec)
  return { val_bpb: bpb(val_bpb), verified_bpb: bpb(verified_bpb) }
}

export function resultBody (rec: ExperimentRecord, ctx: { project: string, track: string, hardware: Hardware, diff: string }): Unsigned<ResultMsg> | null {
  // Only experiments are results: a baseline measurement, a baseline taken with no run or gone back to are not.
  const status = rec.status
  if (status === 'baseline' || status === 'adopted' || status === 'restored' || rec.child == null) return null
  const child = rec.child
  const parent = rec.parent_content ?? child
  const crashed = rec.status === 'crash'
  const { val_bpb, verified_bpb } = figures(rec)
  return {
    v: 1,
    kind: 'result',
    project: ctx.project,
    track: ctx.track,
    parent,
    child,
    diff: wireDiff(ctx.diff),
    // The figure rule's figure: what "kept" meant here (the mean of the confirming runs).
    val_bpb: crashed ? null : val_bpb,
    verified_bpb: crashed ? null : verified_bpb,
    status,
    reason: oneLine(rec.reason ?? '', 200),
    metrics: wireMetrics(rec.metrics ?? {}, { baseline_bpb: bpb(rec.baseline_bpb) }),
    hardware: ctx.hardware,
    agent: oneLine(rec.proposer, 100),
    description: oneLine(rec.description) || '(no description)',
    time: rec.finished_at,
    // A stacked candidate names its second parent (an optional member: PROTOCOL.md).
    ...(rec.merged != null ? { merged: rec.merged } : {})
  }
}

export function attestationBody (rec: ExperimentRecord, origin: Pick<ExperimentOrigin, 'result'>, ok: boolean, ctx: { project: string, track: string, hardware: Hardware }): Unsigned<AttestationMsg> {
  const { val_bpb: measured, verified_bpb: verified } = figures(rec)
  if (rec.child == null) throw new Error(`experiment ${rec.id} has no content hash to attest`)
  return {
    v: 1,
    kind: 'attestation',
    project: ctx.project,
    track: ctx.track,
    result: origin.result,
    child: rec.child,
    ok: ok && measured != null,
    val_bpb: measured,
    verified_bpb: verified,
    hardware: ctx.hardware,
    time: rec.finished_at
  }
}

export function claimBody (ctx: { project: string, track: string, parent: string, child?: string, description: string, now: number, ttlMs: number }): Unsigned<ClaimMsg> {
  return {
    v: 1,
    kind: 'claim',
    project: ctx.project,
    track: ctx.track,
    parent: ctx.parent,
    ...(ctx.child != null ? { child: ctx.child } : {}),
    description: oneLine(ctx.description) || '(experiment)',
    time: ctx.now,
    expires: ctx.now + Math.min(Math.max(ctx.ttlMs, 1000), 2 * 3600 * 1000 - 1000)
  }
}

export function statusBody (ctx: { project: string, track: string, experiment: string | null, best: number | null, experiments: number, kept: number, peers: number, now: number }): Unsigned<StatusMsg> {
  return {
    v: 1,
    kind: 'status',
    project: ctx.project,
    track: ctx.track,
    experiment: ctx.experiment == null ? null : oneLine(ctx.experiment),
    best_bpb: bpb(ctx.best),
    experiments: ctx.experiments,
    kept: Math.min(ctx.kept, ctx.experiments),
    peers: ctx.peers,
    time: ctx.now
  }
}
