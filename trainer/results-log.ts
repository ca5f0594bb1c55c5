/**
 * The trainer's experiment history. The JSONL file is the source of truth (one
 * record a line); results.tsv mirrors autoresearch's human-readable table.
 * Every append is fsynced, so a kill -9 loses at most the record being written,
 * and reading skips what such a kill leaves behind.
 */
import { existsSync } from 'node:fs'
import { mkdir, open, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Where a candidate or baseline from the swarm came from: the peer's result behind it. */
export interface ExperimentOrigin {
  /** Message id of the peer's Result. */
  result: string
  /** Its author's peer id. */
  author: string
  /** The figure it claimed (protocol/figure.ts). */
  claimed: number | null
  track: string
  /**
   * What this node did with it: ran its content (`reproduce`; records before
   * this field are all reproductions), ran our baseline with its change
   * applied (`stack`), took it with no run on evidence (`adopt`), or
   * re-measured it after its first use landed far off (`verify`).
   */
  how?: 'reproduce' | 'stack' | 'adopt' | 'verify'
  /** For `adopt`: the evidence taken in place of a run, in words. */
  evidence?: string
}

/**
 * One experiment as the results log keeps it. The figure it stands for is
 * `figureOf(record)` (protocol/figure.ts): decision, else verified, else reported.
 */
export interface ExperimentRecord {
  id: string                 // unique experiment id (e.g. `${runTag}-${seq}`)
  seq: number
  commit: string             // candidate commit sha (short 7 in results.tsv, full here)
  parent: string             // baseline commit sha
  /**
   * `adopted`: a peer's result became the baseline with no run here (on
   * evidence, trainer/adopted.ts); `restored`: the baseline went back to an
   * earlier one after an adopted baseline failed its re-measure. Neither ran.
   */
  status: 'keep' | 'discard' | 'crash' | 'invalid' | 'baseline' | 'adopted' | 'restored'
  val_bpb: number | null     // reported by the run (the first run when confirmed)
  verified_bpb: number | null// re-measured by the node from ONNX (the first run)
  memory_gb: number          // peak_vram_mb / 1024, 0 on CPU
  description: string
  reason: string
  proposer: string
  metrics: Record<string, number | string>
  track: string
  started_at: number; finished_at: number   // ms epoch
  /** The git branch it ran on (records written before branches were recorded lack it). */
  branch?: string
  /** Project id. */
  project?: string
  /** Content hash of the candidate (of the baseline, for a baseline record). */
  child?: string
  /** Content hash of the baseline the candidate was made on. */
  parent_content?: string
  /** What the keep rule compared: the mean of the confirming runs (null for a crash). */
  decision_bpb?: number | null
  /** The baseline figure the candidate had to beat. */
  baseline_bpb?: number | null
  /** The proposer's structured detail (mutated constant, token usage, ...). */
  detail?: Record<string, unknown>
  /** Set when this experiment reproduced, stacked or adopted a peer's result. */
  origin?: ExperimentOrigin
  /** A stacked candidate's second parent: the content of the keep whose change was applied onto `parent_content`. */
  merged?: string
  /** The noise margin the keep rule used (trainer/noise.ts). */
  margin?: number
  /** On a baseline measured several times: the runs and their spread. */
  noise?: NoiseMeasurement
}

/** Repeated runs of one baseline: the margin in force is derived from the latest (trainer/noise.ts). */
export interface NoiseMeasurement {
  runs: number[]
  sigma: number
  margin: number
}

export interface ResultsLogOptions {
  tsvPath: string
  jsonlPath: string
  /** Told about every line readAll() had to skip. */
  onWarning?: (message: string) => void
}

export class ResultsLogError extends Error {
  override name = 'ResultsLogError'
}

export const TSV_HEADER = 'commit\tval_bpb\tmemory_gb\tstatus\tdescription'

/** autoresearch's three statuses: the tools that read its results.tsv know no others. */
export type TsvStatus = 'keep' | 'discard' | 'crash'

/**
 * A record's status in autoresearch's words. The baseline is autoresearch's
 * first `keep` (its description says "baseline"); an `invalid` run (the node
 * refused its figure: a model that does not measure what it reported, or peeks
 * ahead) has no figure anyone should plot, so it is a `crash`.
 */
export function tsvStatus (status: ExperimentRecord['status']): TsvStatus {
  // A baseline taken with no run (or gone back to) moved the baseline, as a keep does.
  return status === 'baseline' || status === 'adopted' || status === 'restored' ? 'keep' : status === 'invalid' ? 'crash' : status
}

/**
 * One results.tsv row, exactly autoresearch's format: short commit, val_bpb
 * with 6 decimals (0.000000 for a crash), memory in GB with 1 (0.0 for a
 * crash), status, and a one-line description.
 */
export function tsvRow (rec: ExperimentRecord): string {
  const status = tsvStatus(rec.status)
  const crashed = status === 'crash'
  const reported = rec.val_bpb ?? rec.decision_bpb
  const bpb = crashed || reported == null || !Number.isFinite(reported) ? 0 : reported
  const mem = crashed || !Number.isFinite(rec.memory_gb) ? 0 : rec.memory_gb
  const why = rec.status === 'invalid' ? ` (invalid: ${rec.reason})` : ''
  const description = `${String(rec.description ?? '')}${why}`.replace(/[\t\r\n]+/g, ' ')
  return [rec.commit.slice(0, 7), bpb.toFixed(6), mem.toFixed(1), status, description].join('\t')
}

/** Records from JSONL text: unparsable lines skipped with a warning, duplicate ids collapsed. */
export function parseJsonl (text: string): { records: ExperimentRecord[]; warnings: string[] } {
  const warnings: string[] = []
  const lines = text.split('\n')
  // Last content wins, first position stays: a replayed append must not reorder history.
  const byId = new Map<string, ExperimentRecord>()
  lines.forEach((line, i) => {
    if (line.trim() === '') return
    // Text after the last newline is normally a write a kill cut short.
    const where = i === lines.length - 1 ? 'incomplete last line (interrupted write)' : `corrupt line ${i + 1}`
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      warnings.push(`skipped ${where}: ${preview(line)}`)
      return
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { id?: unknown }).id !== 'string') {
      warnings.push(`skipped line ${i + 1}: not an experiment record (no string id)`)
      return
    }
    const rec = value as ExperimentRecord
    byId.set(rec.id, rec)
  })
  return { records: [...byId.values()], warnings }
}

export class ResultsLog {
  /** Warnings from the latest readAll(). */
  warnings: string[] = []
  private readonly tsvPath: string
  private readonly jsonlPath: string
  private readonly onWarning: (message: string) => void
  private queue: Promise<unknown> = Promise.resolve()

  constructor (opts: ResultsLogOptions) {
    this.tsvPath = opts.tsvPath
    this.jsonlPath = opts.jsonlPath
    this.onWarning = opts.onWarning ?? (() => {})
  }

  append (rec: ExperimentRecord): Promise<void> {
    return this.serial(async () => {
      if (typeof rec.id !== 'string' || rec.id === '') throw new ResultsLogError('experiment record needs a non-empty string id')
      if (typeof rec.commit !== 'string') throw new ResultsLogError(`experiment record ${rec.id} needs a commit sha`)
      let line: string
      try {
        line = JSON.stringify(rec)
      } catch (err) {
        throw new ResultsLogError(`experiment record ${rec.id} is not serialisable: ${(err as Error).message}`)
      }
      // The JSONL first: if we die between the two, the truth is kept and only the mirror lags.
      await appendLine(this.jsonlPath, line)
      await appendLine(this.tsvPath, tsvRow(rec), TSV_HEADER)
    })
  }

  readAll (): Promise<ExperimentRecord[]> {
    return this.serial(async () => {
      let text: string
      try {
        text = await readFile(this.jsonlPath, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.warnings = []
          return []
        }
        throw err
      }
      const { records, warnings } = parseJsonl(text)
      this.warnings = warnings
      for (const w of warnings) this.onWarning(`${this.jsonlPath}: ${w}`)
      return records
    })
  }

  /** Appends never interleave: each waits for the one before, failed or not. */
  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => undefined)
    return run
  }
}

/**
 * Appends one line in a single write and fsyncs it; a new file also gets its directory
 * entry fsynced. A torn last line from an earlier crash is closed off first so the new
 * record starts on a line of its own. `header` is written when the file is empty.
 */
async function appendLine (path: string, line: string, header?: string): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const created = !existsSync(path)
  const fh = await open(path, 'a+')
  try {
    const { size } = await fh.stat()
    let prefix = ''
    if (size === 0) {
      if (header !== undefined) prefix = `${header}\n`
    } else {
      const last = Buffer.alloc(1)
      await fh.read(last, 0, 1, size - 1)
      if (last[0] !== 0x0a) prefix = '\n'
    }
    await fh.appendFile(`${prefix}${line}\n`, 'utf8')
    await fh.sync()
  } finally {
    await fh.close()
  }
  if (created) await syncDir(dir)
}

async function syncDir (dir: string): Promise<void> {
  let fh
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch (err) {
    // Some platforms (Windows) cannot open or fsync a directory; the file itself is synced.
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err
  } finally {
    await fh?.close()
  }
}

function preview (line: string): string {
  return line.length > 80 ? `${line.slice(0, 80)}…` : line
}
