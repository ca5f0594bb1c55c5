/**
 * The landscape's own verdict on a train.py: its noiseless val_bpb, from the
 * project's fixed harness (projects/landscape/landscape.py). The benchmark
 * judges progress by this, not by the noisy figures nodes measured, so a
 * lucky run never counts as reaching the target.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { figureOf } from '../../protocol/figure.ts'

const run = promisify(execFile)

export interface LandscapeFacts { optimum: number, target: number, start: number, sigma: number }

export async function landscapeFacts (projectDir: string): Promise<LandscapeFacts> {
  const code = 'import json, landscape as L\nc = L.constants_of(open("train.py").read())\n' +
    'print(json.dumps({"optimum": L.OPTIMUM_BPB, "target": L.TARGET_BPB, "start": L.true_bpb(c), "sigma": L.NOISE_SIGMA}))'
  const { stdout } = await run('python3', ['-c', code], { cwd: projectDir })
  return JSON.parse(stdout)
}

/** Noiseless val_bpb per content hash (null: those constants crash), each content scored once. */
export class Scorer {
  readonly values = new Map<string, number | null>()
  private readonly pending = new Map<string, Promise<number | null>>()

  constructor (private readonly harness: string, private readonly scratch: string) {}

  /** The value of the train.py at `commit` in a node's project; `child` is its content hash. */
  async score (projectDir: string, commit: string, child: string, _record?: unknown): Promise<number | null> {
    const known = this.values.get(child)
    if (known !== undefined) return known
    let p = this.pending.get(child)
    if (p == null) {
      p = this.measure(projectDir, commit, child)
      this.pending.set(child, p)
    }
    return await p
  }

  private async measure (projectDir: string, commit: string, child: string): Promise<number | null> {
    const { stdout: text } = await run('git', ['show', `${commit}:train.py`], { cwd: projectDir, maxBuffer: 1 << 20 })
    const file = join(this.scratch, `${child.slice(0, 16)}.py`)
    await writeFile(file, text)
    const { stdout } = await run('python3', [this.harness, file])
    const value = stdout.startsWith('crash') ? null : Number(stdout.split('\t')[0])
    this.values.set(child, value)
    return value
  }
}

/**
 * For a project with no known surface (the real default project): a
 * content's value is the figure the first node that took it as its baseline
 * decided on (protocol/figure.ts), noise and all.
 */
export class FigureScorer {
  readonly values = new Map<string, number | null>()

  async score (_projectDir: string, _commit: string, child: string, record?: { decision_bpb?: number | null, verified_bpb?: number | null, val_bpb?: number | null }): Promise<number | null> {
    if (!this.values.has(child)) this.values.set(child, record == null ? null : figureOf(record))
    return this.values.get(child) ?? null
  }
}
