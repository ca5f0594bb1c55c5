/**
 * The proposer used when no LLM is configured: change one top-level constant of
 * an editable Python file (learning rate, depth, width, batch, warmup, ...).
 * Random search, but never the same change twice against one baseline and
 * biased towards the constants and directions that paid off before.
 */
import { contentHash } from '../../protocol/index.ts'
import { seededRandom } from '../random.ts'
import type { PastExperiment, Proposal, ProposeContext, Proposer } from './types.ts'

export interface Constant { file: string, line: number, name: string, raw: string, value: number | boolean, kind: 'int' | 'float' | 'bool' }

export interface Mutation { file: string, name: string, from: string, to: string }

const CONST_RE = /^([A-Z][A-Z0-9_]*)(\s*=\s*)(True|False|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(\s*(?:#.*)?)$/
// Constants that change what is measured or only reseed noise: never worth an experiment.
const FROZEN = /^(SEED|RANDOM_SEED|EVAL_|LOG_|PRINT_|TIME_BUDGET)/
// Structural integers move by one step, others by a fraction of their value.
const STEP_NAMES = /(LAYER|DEPTH|HEAD|BLOCKS?$)/

export function findConstants (file: string, text: string): Constant[] {
  const out: Constant[] = []
  text.split('\n').forEach((line, i) => {
    const m = CONST_RE.exec(line)
    if (m == null || FROZEN.test(m[1]!)) return
    const raw = m[3]!
    if (raw === 'True' || raw === 'False') out.push({ file, line: i, name: m[1]!, raw, value: raw === 'True', kind: 'bool' })
    else {
      const isInt = /^[-+]?\d+$/.test(raw)
      out.push({ file, line: i, name: m[1]!, raw, value: Number(raw), kind: isInt ? 'int' : 'float' })
    }
  })
  return out
}

function formatFloat (v: number, like: string): string {
  if (/e/i.test(like)) {
    const [m, e] = v.toExponential(2).split('e')
    return `${String(Number(m))}e${Number(e)}`
  }
  const s = String(Number(v.toPrecision(3)))
  return s.includes('.') || s.includes('e') ? s : `${s}.0`
}

/** Candidate new values for one constant, in a fixed order. */
export function neighbours (c: Constant): string[] {
  if (c.kind === 'bool') return [c.value === true ? 'False' : 'True']
  const v = c.value as number
  if (c.kind === 'int') {
    let vals: number[]
    if (STEP_NAMES.test(c.name)) vals = [v - 1, v + 1]
    else if (v === 0) vals = [1, 10, 100]
    else if (v >= 16 && (v & (v - 1)) === 0) vals = [v / 2, v * 2, Math.round(v * 1.5)]
    else vals = [Math.round(v * 0.75), Math.round(v * 1.25), v * 2]
    return [...new Set(vals.filter(x => x >= 1 && x !== v && Number.isSafeInteger(x)))].map(String)
  }
  if (v === 0) return ['0.01', '0.1']
  const vals = [0.5, 0.7, 1.4, 2].map(f => v * f)
  // Fractions like dropout or betas stay below 1 when they started there.
  const bounded = v > 0 && v < 1 ? vals.filter(x => x < 1) : vals
  return [...new Set(bounded.map(x => formatFloat(x, c.raw)))].filter(s => s !== c.raw && Number(s) !== v)
}

export function applyMutation (text: string, c: Constant, to: string): string {
  const lines = text.split('\n')
  const m = CONST_RE.exec(lines[c.line] ?? '')
  if (m == null || m[1] !== c.name) throw new Error(`constant ${c.name} moved`)
  lines[c.line] = `${m[1]}${m[2]}${to}${m[4]}`
  return lines.join('\n')
}

function direction (from: string, to: string): string {
  const a = Number(from); const b = Number(to)
  return Number.isNaN(a) ? to : b > a ? 'up' : 'down'
}

/** Weight of trying `name` in `dir`: what was kept before pulls, crashes push away. */
export function weightOf (name: string, dir: string, history: PastExperiment[]): number {
  let w = 1
  for (const h of history) {
    const m = h.detail?.mutation as Mutation | undefined
    if (m?.name !== name) continue
    const same = direction(m.from, m.to) === dir
    if (h.status === 'keep') w *= same ? 3 : 0.7
    else if (h.status === 'crash' && same) w *= 0.5
    else if (h.status === 'discard' && same) w *= 0.85
  }
  return Math.max(w, 0.05)
}

/** Seeded, so proposals are reproducible in tests. */
export const rng = seededRandom

export function proposeMutation (ctx: ProposeContext, random: () => number): Proposal | null {
  const options: Array<{ c: Constant, to: string, files: Record<string, string>, weight: number }> = []
  for (const file of ctx.editable) {
    const text = ctx.files[file]
    if (text === undefined || !file.endsWith('.py')) continue
    for (const c of findConstants(file, text)) {
      for (const to of neighbours(c)) {
        const files = { ...ctx.files, [file]: applyMutation(text, c, to) }
        if (ctx.tried.has(contentHash(files))) continue
        options.push({ c, to, files: { [file]: files[file]! }, weight: weightOf(c.name, direction(c.raw, to), ctx.history) })
      }
    }
  }
  if (options.length === 0) return null
  let r = random() * options.reduce((s, o) => s + o.weight, 0)
  const pick = options.find(o => (r -= o.weight) <= 0) ?? options[options.length - 1]!
  const mutation: Mutation = { file: pick.c.file, name: pick.c.name, from: pick.c.raw, to: pick.to }
  return { files: pick.files, description: `${pick.c.name} ${pick.c.raw} -> ${pick.to}`, detail: { mutation } }
}

export class MutationProposer implements Proposer {
  readonly name = 'mutation'
  private readonly random: () => number

  constructor (seed = Date.now()) {
    this.random = rng(seed)
  }

  async propose (ctx: ProposeContext): Promise<Proposal | null> {
    return proposeMutation(ctx, this.random)
  }
}
