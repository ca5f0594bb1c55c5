/**
 * What every step of the loop shares: its sequence number, its run (measured,
 * progress reported), the fields every record of it carries, and its append
 * to the results log, the session's history and the event stream, in that
 * order, so a crash between them loses nothing the log does not hold.
 */
import type { ExperimentKind, LoopOptions } from './loop.ts'
import { measure, type Measurement } from './measure.ts'
import type { ExperimentRecord } from './results-log.ts'
import type { Session } from './session.ts'

/** One past the highest sequence number recorded (records are never renumbered). */
export function nextSeq (s: Session): number {
  return s.history.reduce((m, r) => Math.max(m, r.seq), 0) + 1
}

/** One run of the workspace as it stands, in the session's sandbox, its progress as events. */
export async function runOnce (o: LoopOptions, seq: number, kind: ExperimentKind): Promise<Measurement> {
  const s = o.session
  return await measure({
    dir: s.project.dir,
    manifest: s.project.manifest,
    python: s.python,
    env: s.env,
    sandbox: s.sandbox,
    data: s.measureData,
    signal: o.signal,
    onProgress: p => o.onEvent({ type: 'progress', seq, kind, ...p })
  })
}

/** The fields every record of a step carries, whatever it did. */
export function baseRecord (s: Session, seq: number, startedAt: number): Pick<ExperimentRecord, 'id' | 'seq' | 'track' | 'started_at' | 'finished_at' | 'branch' | 'project'> {
  return { id: `${s.runTag}-${seq}`, seq, track: s.track, started_at: startedAt, finished_at: Date.now(), branch: s.workspace.branch, project: s.project.id }
}

/** What a run measured, as record fields. */
export function recordFields (m: Measurement): Pick<ExperimentRecord, 'val_bpb' | 'verified_bpb' | 'memory_gb' | 'reason' | 'metrics'> {
  const vram = typeof m.summary.peak_vram_mb === 'number' ? m.summary.peak_vram_mb : 0
  return { val_bpb: m.reported, verified_bpb: m.verified, memory_gb: vram / 1024, reason: m.reason, metrics: { ...m.summary, run_seconds: m.runSeconds, verify_seconds: m.verifySeconds } }
}

/** The step's record into the results log first, then the session's history, then the event stream. */
export async function append (o: LoopOptions, rec: ExperimentRecord, diff: string, files: Record<string, string>, before: number | null): Promise<void> {
  await o.session.log.append(rec)
  o.session.history.push(rec)
  o.onEvent({ type: 'experiment-end', record: rec, diff, files, ...(rec.origin != null ? { origin: rec.origin } : {}), baselineBefore: before, baselineAfter: o.session.baseline.value })
}
