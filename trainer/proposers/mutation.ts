/**
 * The proposer used when no LLM is configured: change one top-level constant of
 * an editable Python file (learning rate, depth, width, batch, warmup, ...).
 * Random search, in four steps a reader can follow and a later change can
 * extend:
 *
 *   options(ctx)           every one-constant change, in file order
 *   FILTERS                why an option is not worth a run (each a small function):
 *                          tried against this baseline, here or by a trusted peer (or
 *                          running on one now); breaks a condition the file's own code
 *                          sets (N_EMBD // N_HEAD); crashed before in the same
 *                          surroundings, on any baseline
 *   HINTS                  why an option had better wait, unless nothing else is
 *                          left: discarded on one of the last few baselines, or
 *                          running on one on a peer, its constant unmoved since
 *   weightOf(...)          how often the change was kept when tried (bounded),
 *                          less for crashes: from this node's history and, in a
 *                          swarm, trusted peers' outcomes too (learnedFrom)
 *   pick(options, random)  one option, by weight
 *
 * In a swarm, `random` is seeded per node (by its peer id, unless --seed), so
 * nodes on one baseline draw different options, the swarm's tried view
 * (peers' results and live claims) takes what a peer ran or runs out of the
 * draw altogether, and every node's weights learn from every trusted node's
 * runs: the knobs the swarm found well set stop costing each node its own
 * discards.
 */
import { contentHash } from '../../protocol/index.ts'
import { seededRandom } from '../random.ts'
import { analyse, sharedLines, type Analysis, type Value } from './constraints.ts'
import type { Proposal, ProposeContext, Proposer } from './types.ts'

export interface Constant { file: string, line: number, name: string, raw: string, value: number | boolean, kind: 'int' | 'float' | 'bool' }

export interface Mutation {
  file: string
  name: string
  from: string
  to: string
  /**
   * The constants that share a line of code with this one, as they stood: a
   * crash of the same change in the same surroundings is expected again, on
   * whatever baseline.
   */
  context?: Record<string, string>
}

const CONST_RE = /^([A-Z][A-Z0-9_]*)(\s*=\s*)(True|False|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(\s*(?:#.*)?)$/
// Constants that change what is measured or only reseed noise: never worth an experiment.
const FROZEN = /^(SEED|RANDOM_SEED|EVAL_|LOG_|PRINT_|TIME_BUDGET)/
// Structural integers move by one step, others by a fraction of their value.
const STEP_NAMES = /(LAYER|DEPTH|HEAD|BLOCKS?$)/
// How a one-constant change is described ("N_HEAD 4 -> 3"), here and on the wire.
const MUTATION_RE = /^([A-Z][A-Z0-9_]*) (\S+) -> (\S+)$/
// Crashes that say more about the machine than the change (a slow or busy moment): not remembered.
const CIRCUMSTANTIAL_CRASH = /^(timed out|killed by|aborted)/

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

/** One tried change as the weights see it: a constant, a direction, and what came of it. */
export interface TriedChange { name: string, dir: string, status: string }

const WEIGHED_STATUSES: ReadonlySet<string> = new Set(['keep', 'discard', 'crash'])

/**
 * What the weights learn from: this node's own experiments, and trusted peers'
 * one-constant changes (their descriptions name the change). A lone node
 * learns which knobs are already well set from its own discards; a swarm
 * learns it from all of its nodes' at once.
 */
export function learnedFrom (ctx: Pick<ProposeContext, 'history' | 'swarmOutcomes'>): TriedChange[] {
  const out: TriedChange[] = []
  const add = (m: { name: string, from: string, to: string } | null | undefined, status: string): void => {
    if (m != null && WEIGHED_STATUSES.has(status)) out.push({ name: m.name, dir: direction(m.from, m.to), status })
  }
  for (const h of ctx.history) add(h.detail?.mutation as Mutation | undefined, h.status)
  for (const o of ctx.swarmOutcomes ?? []) add(changeNamed(o.description), o.status)
  return out
}

/**
 * Weight of trying `name` in `dir`: how often that change was kept when it was
 * tried (with a prior of one keep in three tries, so an untried change weighs
 * 1), less for every crash, and less for every keep in the other direction. It
 * is bounded (at most 3), so a run of keeps in one direction pulls without
 * drawing every node of a swarm onto the same change, and ten discards weigh a
 * change down to a quarter.
 */
export function weightOf (name: string, dir: string, tried: readonly TriedChange[]): number {
  let kept = 0
  let tries = 0
  let w = 1
  for (const t of tried) {
    if (t.name !== name) continue
    if (t.dir !== dir) {
      if (t.status === 'keep') w *= 0.7
      continue
    }
    tries++
    if (t.status === 'keep') kept++
    else if (t.status === 'crash') w *= 0.5
  }
  return Math.max(w * 3 * (kept + 1) / (tries + 3), 0.05)
}

/** Seeded, so proposals are reproducible in tests. */
export const rng = seededRandom

/** A node's own seed, from its peer id: nodes of one swarm draw differently, and each the same way every start. */
export function seedFor (peerId: string): number {
  let h = 2166136261
  for (let i = 0; i < peerId.length; i++) h = Math.imul(h ^ peerId.charCodeAt(i), 16777619)
  return h >>> 0
}

/** One possible experiment: a constant of an editable file set to a neighbouring value. */
export interface MutationOption {
  constant: Constant
  to: string
  /** The changed file alone, as a proposal carries it. */
  files: Record<string, string>
  /** Content hash of every editable file with the change: what "tried" is keyed by, here and in the swarm. */
  child: string
  mutation: Mutation
}

/** What the filters know of one editable file at the baseline, worked out once per proposal. */
export interface FileFacts { analysis: Analysis, shared: Map<string, Set<string>>, constants: Map<string, Constant> }

export interface FilterContext {
  ctx: ProposeContext
  facts: (file: string) => FileFacts
}

/** Why an option is not worth a run, in words, or null when it is. */
export type OptionFilter = (o: MutationOption, f: FilterContext) => string | null

const valueOf = (c: Constant, raw: string): Value => c.kind === 'bool' ? { v: raw === 'True' ? 1 : 0, int: true } : { v: Number(raw), int: c.kind === 'int' }

/** Never the same change twice against one baseline. */
export const notTriedHere: OptionFilter = (o, { ctx }) => ctx.tried.has(o.child) ? 'already tried against this baseline' : null

/** Never what a trusted peer ran against the same baseline content, or is running on it now. */
export const notTriedBySwarm: OptionFilter = (o, { ctx }) => {
  const ran = ctx.swarmTried?.get(o.child)
  return ran != null ? `in the swarm: ${ran}` : null
}

/** Never a change the file's own code rules out: `N_EMBD // N_HEAD` with N_HEAD 3 and N_EMBD 128 cannot be viewed as heads. */
export const withinFileConditions: OptionFilter = (o, { facts }) => {
  const broken = facts(o.constant.file).analysis.violated({ [o.constant.name]: valueOf(o.constant, o.to) })
  return broken != null ? `breaks "${broken}"` : null
}

/** Never a change that crashed before in the same surroundings, whichever baseline it was tried on. */
export const notKnownCrash: OptionFilter = (o, { ctx }) => {
  const ctxOf = JSON.stringify(o.mutation.context ?? {})
  const crashes = [
    ...ctx.history.filter(h => h.status === 'crash').map(h => ({ m: h.detail?.mutation as Mutation | undefined, reason: h.reason, where: '' })),
    ...peerCrashes(ctx).map(c => ({ ...c, where: ' on a peer' }))
  ]
  for (const { m, reason, where } of crashes) {
    if (m == null || m.context == null || CIRCUMSTANTIAL_CRASH.test(reason ?? '')) continue
    if (m.file === o.mutation.file && m.name === o.mutation.name && m.to === o.mutation.to && JSON.stringify(m.context) === ctxOf) {
      return `crashed before${where} with the same ${Object.keys(m.context).join(', ') || 'surroundings'} (${reason ?? 'crash'})`
    }
  }
  return null
}

/** The constant and values a description names ("N_HEAD 4 -> 3"), or null for anything else. */
function changeNamed (description: string): { name: string, from: string, to: string } | null {
  const d = MUTATION_RE.exec(description)
  return d == null ? null : { name: d[1]!, from: d[2]!, to: d[3]! }
}

/**
 * The one-constant change a description names ("N_HEAD 4 -> 3"), with its
 * surroundings read from the file it was made on; null for anything else
 * (an LLM's or agent's change says nothing a constant filter can use).
 */
export function mutationOf (description: string, parentFiles: Record<string, string>, editable: readonly string[]): Mutation | null {
  const change = changeNamed(description)
  if (change == null) return null
  const { name, from, to } = change
  for (const file of editable) {
    const text = parentFiles[file]
    if (text == null || !file.endsWith('.py')) continue
    const facts = factsOf(text, file)
    const c = facts.constants.get(name)
    if (c?.raw === from) return { file, name, from, to, context: contextOf(c, facts) }
  }
  return null
}

/** Trusted peers' crashed mutations, as changes in their surroundings (worked out once per crash). */
const peerMutations = new WeakMap<object, Mutation | null>()
function peerCrashes (ctx: ProposeContext): Array<{ m: Mutation | undefined, reason: string }> {
  return (ctx.swarmCrashes ?? []).map(c => {
    if (!peerMutations.has(c)) peerMutations.set(c, mutationOf(c.description, c.parentFiles, ctx.editable))
    return { m: peerMutations.get(c) ?? undefined, reason: c.reason }
  })
}

/**
 * Not a change discarded on one of the last few baselines (trainer/step-back.ts)
 * while its constant has not moved since, nor one a trusted peer is running on
 * one of them now: a step (ours or a peer's keep, an adoption) seldom turns a
 * loser into a winner, and a swarm steps more often than a run ends, so
 * without this each node would spend its first runs on every new baseline on
 * what was just discarded, or is being run, a step behind. A hint, not a
 * rule: it yields when nothing else is left, and a few steps on the change
 * is worth a run again (the learned weights still remember it).
 */
export const notDiscardedStepBack: OptionFilter = (o, { ctx }) => {
  for (const past of ctx.stepBack ?? []) {
    if (past.status !== 'discard' && past.status !== 'running') continue
    const m = changeNamed(past.description)
    if (m == null || m.name !== o.mutation.name || m.from !== o.mutation.from || m.to !== o.mutation.to) continue
    return past.status === 'discard'
      ? `discarded on an earlier baseline, ${m.name} unmoved since`
      : `running now on a peer on an earlier baseline, ${m.name} unmoved since`
  }
  return null
}

/** In the order a reader would check them. */
export const FILTERS: readonly OptionFilter[] = [notTriedHere, notTriedBySwarm, withinFileConditions, notKnownCrash]

/** Filters that yield: applied unless they would leave nothing to run. */
export const HINTS: readonly OptionFilter[] = [notDiscardedStepBack]

/** Reading the file's conditions is a help, never a gate: a file it cannot read simply has none. */
const NO_CONDITIONS: Analysis = { assignments: [], conditions: [], env: () => new Map(), violated: () => null }

function factsOf (text: string, file: string): FileFacts {
  const constants = new Map(findConstants(file, text).map(c => [c.name, c]))
  try {
    return { analysis: analyse(text), shared: sharedLines(text), constants }
  } catch {
    return { analysis: NO_CONDITIONS, shared: new Map(), constants }
  }
}

/** The other constants a change to `c` can meet, with their values now. */
function contextOf (c: Constant, facts: FileFacts): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of [...facts.shared.get(c.name) ?? []].sort()) {
    const other = facts.constants.get(name)
    if (other != null) out[name] = other.raw
  }
  return out
}

/** Every one-constant change of the editable Python files, in file order. */
export function options (ctx: ProposeContext, facts: (file: string) => FileFacts): MutationOption[] {
  const out: MutationOption[] = []
  for (const file of ctx.editable) {
    const text = ctx.files[file]
    if (text === undefined || !file.endsWith('.py')) continue
    for (const c of facts(file).constants.values()) {
      for (const to of neighbours(c)) {
        const changed = applyMutation(text, c, to)
        out.push({
          constant: c,
          to,
          files: { [file]: changed },
          child: contentHash({ ...ctx.files, [file]: changed }),
          mutation: { file, name: c.name, from: c.raw, to, context: contextOf(c, facts(file)) }
        })
      }
    }
  }
  return out
}

/** The options worth a run, and the others with the reason each was left out. */
export function viableOptions (ctx: ProposeContext, filters: readonly OptionFilter[] = FILTERS): { viable: MutationOption[], skipped: Array<{ option: MutationOption, why: string }> } {
  const cache = new Map<string, FileFacts>()
  const facts = (file: string): FileFacts => {
    let f = cache.get(file)
    if (f == null) cache.set(file, f = factsOf(ctx.files[file] ?? '', file))
    return f
  }
  const viable: MutationOption[] = []
  const skipped: Array<{ option: MutationOption, why: string }> = []
  for (const o of options(ctx, facts)) {
    let why: string | null = null
    for (const filter of filters) if ((why = filter(o, { ctx, facts })) != null) break
    if (why == null) viable.push(o)
    else skipped.push({ option: o, why })
  }
  return { viable, skipped }
}

/** One option, drawn by weight. */
export function pick (opts: MutationOption[], tried: readonly TriedChange[], random: () => number): MutationOption | null {
  if (opts.length === 0) return null
  // Weighed once per constant and direction: the history may be long.
  const memo = new Map<string, number>()
  const weights = opts.map(o => {
    const dir = direction(o.constant.raw, o.to)
    const key = `${o.constant.name} ${dir}`
    let w = memo.get(key)
    if (w == null) memo.set(key, w = weightOf(o.constant.name, dir, tried))
    return w
  })
  let r = random() * weights.reduce((s, w) => s + w, 0)
  return opts.find((_, i) => (r -= weights[i]!) <= 0) ?? opts[opts.length - 1]!
}

export function proposeMutation (ctx: ProposeContext, random: () => number, filters: readonly OptionFilter[] = FILTERS, hints: readonly OptionFilter[] = HINTS): Proposal | null {
  let { viable } = viableOptions(ctx, [...filters, ...hints])
  if (viable.length === 0 && hints.length > 0) viable = viableOptions(ctx, filters).viable
  const o = pick(viable, learnedFrom(ctx), random)
  if (o == null) return null
  return { files: o.files, description: `${o.constant.name} ${o.constant.raw} -> ${o.to}`, detail: { mutation: o.mutation } }
}

export class MutationProposer implements Proposer {
  readonly name = 'mutation'
  private readonly random: () => number

  constructor (seed = Date.now(), private readonly filters: readonly OptionFilter[] = FILTERS, private readonly hints: readonly OptionFilter[] = HINTS) {
    this.random = rng(seed)
  }

  async propose (ctx: ProposeContext): Promise<Proposal | null> {
    return proposeMutation(ctx, this.random, this.filters, this.hints)
  }
}
