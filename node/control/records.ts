/**
 * Filters over the local experiment history (pure), shared by the control API
 * and `swarm-node results` reading the JSONL file directly.
 */
import { figureOf } from '../../protocol/index.ts'
import type { ExperimentRecord } from '../../trainer/results-log.ts'

export const RECORD_STATUSES = ['keep', 'discard', 'crash', 'invalid', 'baseline', 'adopted', 'restored'] as const
export type RecordStatus = typeof RECORD_STATUSES[number]

export interface RecordFilter {
  status?: RecordStatus
  /** The newest n (after the other filters). */
  limit?: number
  /** ms epoch: records finished at or after. */
  since?: number
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * `--since`: a duration back from `now` (`90s`, `30m`, `2h`, `7d`, `1w`) or a
 * date/time (`2026-03-01`, `2026-03-01T12:00`). Throws a sentence on nonsense.
 */
export function parseSince (text: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim())
  if (m != null) return now - Number(m[1]) * UNITS[m[2]!]!
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    const t = Date.parse(text.trim())
    if (Number.isFinite(t)) return t
  }
  throw new Error(`--since "${text}": use a duration (30m, 2h, 7d) or a date (2026-03-01, 2026-03-01T12:00)`)
}

export function isRecordStatus (s: string): s is RecordStatus {
  return (RECORD_STATUSES as readonly string[]).includes(s)
}

export function filterRecords (records: ExperimentRecord[], f: RecordFilter): ExperimentRecord[] {
  let out = records
  if (f.status != null) out = out.filter(r => r.status === f.status)
  if (f.since != null) out = out.filter(r => (r.finished_at ?? 0) >= f.since!)
  if (f.limit != null) out = out.slice(-f.limit)
  return out
}

/** The figure a record stands for: the one figure rule (protocol/figure.ts). */
export function recordFigure (r: ExperimentRecord): number | null {
  return figureOf(r)
}

export interface RecordCounts { recorded: number, baselines: number, experiments: number, kept: number }

/** What a history holds, counted one way for `results`, `status` and the dashboard: baselines apart from experiments. */
export function countRecords (records: readonly Pick<ExperimentRecord, 'status'>[]): RecordCounts {
  const baselines = records.filter(r => r.status === 'baseline').length
  return { recorded: records.length, baselines, experiments: records.length - baselines, kept: records.filter(r => r.status === 'keep').length }
}

/** "1 baseline, 2 experiments, 1 kept". */
export function countsPhrase (c: RecordCounts): string {
  const n = (k: number, word: string): string => `${k} ${word}${k === 1 ? '' : 's'}`
  return `${n(c.baselines, 'baseline')}, ${n(c.experiments, 'experiment')}, ${c.kept} kept`
}
