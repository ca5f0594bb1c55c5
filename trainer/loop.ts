/**
 * The autoresearch loop: propose -> check -> commit -> run -> measure ->
 * (confirm) -> keep or revert -> record, forever or until aborted. Each step
 * is a small function; the loop itself only orders them and reports events.
 * What every step shares is in steps.ts; a peer's result taken with no run,
 * and its verification by use, in adopt.ts.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { contentHash, figureOf, type ClaimMsg, type ResultMsg } from '../protocol/index.ts'
import { adopt, verifyByUse } from './adopt.ts'
import { BASELINE_STATUSES } from './adopted.ts'
import { refusal } from './admission.ts'
import { CandidateRejected, checkCandidate } from './check.ts'
import { DECISIVE_MARGINS, afterConfirm, firstLook, mean } from './decide.ts'
import type { Measurement } from './measure.ts'
import { NOISE_RUNS, describeMargin, marginInForce, measurement } from './noise.ts'
import { DEFAULT_MAX_REPAIRS } from './proposers/constants.ts'
import type { CrashReport, PeerCrash, PeerOutcome, Proposal, ProposeContext, Proposer } from './proposers/types.ts'
import type { ExperimentOrigin, ExperimentRecord } from './results-log.ts'
import type { Session } from './session.ts'
import { lineageTrailers, type Lineage } from './stack.ts'
import { stepBack } from './step-back.ts'
import { append, baseRecord, nextSeq, recordFields, runOnce } from './steps.ts'

export type ExperimentKind = 'baseline' | 'candidate' | 'confirm'

export type LoopEvent =
  /** `child`: the content it runs (peers skip it while it runs); `origin`: the peer's result behind it. */
  | { type: 'experiment-start', seq: number, kind: ExperimentKind, description: string, child?: string, origin?: ExperimentOrigin }
  | { type: 'progress', seq: number, kind: ExperimentKind, elapsedS: number, budgetS?: number, lastLine: string }
  /** `files`: the editable files the experiment ran (the baseline's, for a baseline); `origin`: the peer's result it reproduced. */
  | { type: 'experiment-end', record: ExperimentRecord, diff: string, files: Record<string, string>, origin?: ExperimentOrigin, baselineBefore: number | null, baselineAfter: number | null }
  | { type: 'log', level: 'info' | 'warn', message: string }
  | { type: 'idle', reason: string }

/**
 * What the swarm hands the loop, from a peer's kept result: take it as our
 * baseline with no run (the inbox found evidence this node trusts in place of
 * a run; the loop then verifies it by use), run its content (a reproduction),
 * or run our baseline with its change applied (a stacked candidate).
 */
export type Adoption =
  | { kind: 'adopt', files: Record<string, string>, description: string, figure: number, origin: ExperimentOrigin }
  | { kind: 'reproduce', proposal: Proposal, origin: ExperimentOrigin }
  | { kind: 'stack', proposal: Proposal, origin: ExperimentOrigin, lineage: Lineage }

/** What an inbox may know of the loop: a copy, never the session itself. */
export interface AdoptionSnapshot {
  baseline: { content: string, value: number | null, files: Record<string, string> }
  /** Contents already run against this baseline. */
  tried: ReadonlySet<string>
  /** Experiments recorded so far (budgets are counted in them). */
  experiments: number
  /** The largest gain (baseline minus figure) of a keep here: what this node has seen to be possible. */
  largestGain: number
  /** The noise margin in force (trainer/noise.ts). */
  margin: number
  /** Every content this node has had as its baseline: a change made on one of them can be stacked here. */
  lineage: ReadonlySet<string>
  /** Results whose change this node has stacked (or tried to): once is enough. */
  stacked: ReadonlySet<string>
}

/** Where adoptions come from (the swarm service); absent when offline. */
export interface AdoptionInbox {
  /**
   * The best adoption worth trying against this baseline whose content is
   * already here, or null; never waits on the network.
   */
  next (snapshot: AdoptionSnapshot, signal: AbortSignal): Promise<Adoption | null>
  /** Resolves when something new may be worth adopting (or after `ms`). */
  wait (ms: number, signal: AbortSignal): Promise<void>
}

/** Peers' results and claims on this project (the swarm store); absent when offline. */
export interface SwarmView {
  results (): ResultMsg[]
  claims (): ClaimMsg[]
  /** Our own peer id: our own gossip is already in the local history. */
  self?: string
  /**
   * The swarm-wide "tried" view for a baseline content: what trusted peers ran
   * on it (or are running now), content hash -> what came of it, in words.
   */
  tried? (parent: string): ReadonlyMap<string, string>
  /** Trusted peers' crashes, with the files each was made on (the mutation proposer's crash memory). */
  crashes? (): readonly PeerCrash[]
  /** Trusted peers' experiments, the latest (the mutation proposer's weights learn from them). */
  outcomes? (): readonly PeerOutcome[]
  /** What trusted peers ran on a baseline content, and what came of each, and what they run on it now ('running'). */
  ranOn? (parent: string): readonly PeerOutcome[]
}

export interface LoopOptions {
  session: Session
  proposer: Proposer
  inbox?: AdoptionInbox
  signal: AbortSignal
  onEvent: (e: LoopEvent) => void
  /** Re-run a promising candidate before keeping it (default true). */
  confirm?: boolean
  /** A first run this many noise margins better is kept without a second (default DECISIVE_MARGINS; 0: always confirm). */
  decisive?: number
  /** Stop after this many experiments (baseline excluded); default: forever. */
  maxExperiments?: number
  /** What the swarm tried and is trying, shown to the proposer. */
  swarm?: SwarmView
  /** Fixes a proposer may try on a crashed candidate of its own (default 2; 0 turns repair off). */
  maxRepairs?: number
  /** Re-measure the baseline and its noise at the start, even when resuming (`--measure-noise`). */
  measureNoise?: boolean
  /** Runs of the baseline per noise measurement (default NOISE_RUNS; 1 keeps the manifest's margin). */
  noiseRuns?: number
}

export { DEFAULT_MAX_REPAIRS }
/** The research brief an autoresearch project keeps beside train.py. */
const PROGRAM_MD = 'program.md'
const PROGRAM_MD_MAX_CHARS = 64 * 1024

/**
 * Measures the workspace head as the baseline (first start, a new budget, or
 * `--measure-noise`). Without a noise measurement in the records yet, the head
 * runs several times: the figure is their mean and their spread sets the margin.
 */
export async function runBaseline (o: LoopOptions): Promise<boolean> {
  const s = o.session
  const manifestMargin = s.project.manifest.noise_margin
  const runs = o.measureNoise === true || marginInForce(s).source === 'manifest' ? Math.max(1, o.noiseRuns ?? NOISE_RUNS) : 1
  const seq = nextSeq(s)
  const startedAt = Date.now()
  o.onEvent({ type: 'experiment-start', seq, kind: 'baseline', description: runs > 1 ? `baseline (${runs} runs: measuring the noise)` : 'baseline' })
  const first = await runOnce(o, seq, 'baseline')
  if (first.status === 'aborted') return false
  if (first.status !== 'ok') throw new Error(`the baseline itself does not run (${first.status}: ${first.reason}); fix the project before researching on it. Last output:\n${first.tail.slice(-1500)}`)
  const figures = [first.value!]
  for (let i = 2; i <= runs; i++) {
    const again = await runOnce(o, seq, 'baseline')
    if (again.status === 'aborted') return false
    // A flaky baseline is worth knowing about, but one failed repeat does not void the others.
    if (again.status !== 'ok') o.onEvent({ type: 'log', level: 'warn', message: `baseline run ${i}/${runs} failed (${again.reason}); the noise is estimated without it` })
    else figures.push(again.value!)
  }
  const noise = measurement(figures, manifestMargin)
  s.baseline.value = mean(figures)
  const rec: ExperimentRecord = {
    ...baseRecord(s, seq, startedAt), commit: s.baseline.commit, parent: s.baseline.commit, status: 'baseline', description: 'baseline', proposer: 'none',
    child: s.baseline.content, ...recordFields(first), decision_bpb: s.baseline.value,
    ...(noise != null ? { noise } : {}), margin: noise?.margin ?? marginInForce(s).margin
  }
  if (figures.length > 1) rec.metrics = { ...rec.metrics, baseline_runs: figures.length }
  s.baseline.record = rec
  await append(o, rec, '', s.baseline.files, null)
  if (noise != null) o.onEvent({ type: 'log', level: 'info', message: `noise: ${figures.map(f => f.toFixed(4)).join(', ')} -> margin ${describeMargin(marginInForce(s))}` })
  return true
}

/** Content hashes already tried against the current baseline: never run the same candidate twice. */
export function triedAgainst (s: Session): Set<string> {
  return new Set(s.history.filter(r => r.parent === s.baseline.commit && r.child != null).map(r => r.child!))
}

/** What the adoption inbox may see of the session. */
export function adoptionSnapshot (s: Session): AdoptionSnapshot {
  let largestGain = 0
  const lineage = new Set<string>([s.baseline.content])
  const stacked = new Set<string>()
  for (const r of s.history) {
    const figure = figureOf(r)
    if (r.status === 'keep' && figure != null && r.baseline_bpb != null) largestGain = Math.max(largestGain, r.baseline_bpb - figure)
    if (BASELINE_STATUSES.has(r.status) && r.child != null) lineage.add(r.child)
    if (r.origin?.how === 'stack') stacked.add(r.origin.result)
  }
  return {
    baseline: { content: s.baseline.content, value: s.baseline.value, files: { ...s.baseline.files } },
    tried: triedAgainst(s),
    experiments: s.history.length,
    largestGain,
    margin: marginInForce(s).margin,
    lineage,
    stacked
  }
}

function swarmContext (o: LoopOptions): ProposeContext['swarm'] {
  if (o.swarm == null) return undefined
  const self = o.swarm.self
  const project = o.session.project.id
  return {
    results: o.swarm.results().filter(r => r.project === project && r.author !== self),
    claims: o.swarm.claims().filter(c => c.project === project && c.author !== self)
  }
}

async function programMd (s: Session): Promise<string | null> {
  const text = await readFile(join(s.project.dir, PROGRAM_MD), 'utf8').catch(() => null)
  return text == null ? null : text.slice(0, PROGRAM_MD_MAX_CHARS)
}

/** Everything a proposer may look at: the baseline, what was tried here and in the swarm, the machine. */
async function proposeContext (o: LoopOptions): Promise<ProposeContext> {
  const s = o.session
  return {
    files: s.baseline.files,
    editable: s.project.manifest.editable,
    parent: s.baseline.commit,
    history: s.history.map(r => ({
      parent: r.parent, status: r.status, description: r.description, val_bpb: figureOf(r),
      baseline_bpb: r.baseline_bpb, detail: r.detail,
      child: r.child, proposer: r.proposer, reason: r.reason, finished_at: r.finished_at
    })),
    tried: triedAgainst(s),
    swarmTried: o.swarm?.tried?.(s.baseline.content),
    swarmCrashes: o.swarm?.crashes?.(),
    swarmOutcomes: o.swarm?.outcomes?.(),
    stepBack: stepBack(s.history, s.baseline.record, o.swarm?.ranOn),
    signal: o.signal,
    baselineContent: s.baseline.content,
    baselineValue: s.baseline.value,
    metric: s.project.manifest.metric,
    programMd: await programMd(s),
    hardware: s.hardware,
    track: s.track,
    budgetS: s.project.manifest.budget_s,
    swarm: swarmContext(o),
    workspace: s.workspace,
    sandbox: s.sandbox,
    log: (level, message) => o.onEvent({ type: 'log', level, message })
  }
}

async function propose (o: LoopOptions): Promise<Proposal | null> {
  return await o.proposer.propose(await proposeContext(o))
}

/** One experiment from proposal to record. Returns false when aborted. */
export async function runExperiment (o: LoopOptions, proposal: Proposal, proposer = o.proposer.name, origin?: ExperimentOrigin): Promise<boolean> {
  return (await experiment(o, proposal, proposer, origin)) != null
}

interface Outcome { rec: ExperimentRecord, files: Record<string, string>, tail: string }

/** The measurement of a candidate refused before it ran. */
function notRun (reason: string): Measurement {
  return { status: 'invalid', reason, reported: null, verified: null, value: null, summary: {}, runSeconds: 0, verifySeconds: 0, tail: '' }
}

/** The commit message's trailers: who proposed it, or whose result it reproduces, or which lineages it stacks. */
function trailers (branch: string, proposer: string, origin?: ExperimentOrigin, lineage?: { base: string, merged: Lineage }): string {
  if (lineage != null) return `swarm-node stacked candidate on ${branch}\n${lineageTrailers({ base: lineage.base, merged: [lineage.merged] })}`
  if (origin == null) return `swarm-node experiment on ${branch}, proposer ${proposer}`
  return `swarm-node reproduction on ${branch}\nAdopted-From-Peer: ${origin.author}\nAdopted-Result: ${origin.result}\nClaimed-Val-Bpb: ${origin.claimed ?? 'none'}`
}

async function experiment (o: LoopOptions, proposal: Proposal, proposer: string, origin?: ExperimentOrigin, merged?: Lineage): Promise<Outcome | null> {
  const s = o.session
  const ws = s.workspace
  const margin = marginInForce(s).margin
  const files = checkCandidate(s.baseline.files, proposal.files, s.project.manifest.editable)
  const child = contentHash(files)
  await ws.writeEditable(files)
  const lineage = merged != null ? { base: s.baseline.content, merged } : undefined
  const commit = await ws.commitCandidate(`${proposal.description}\n\n${trailers(ws.branch, proposer, origin, lineage)}`)
  const seq = nextSeq(s)
  const startedAt = Date.now()
  const before = s.baseline.value
  o.onEvent({ type: 'experiment-start', seq, kind: 'candidate', description: proposal.description, child, ...(origin != null ? { origin } : {}) })

  // Code this node did not write runs only caged and past the project's policy; a refusal is recorded, not run.
  const refused = refusal({ proposer, adopted: origin != null, baseline: s.baseline.files, candidate: files, policy: s.project.manifest.policy, sandbox: s.sandbox })
  if (refused != null) o.onEvent({ type: 'log', level: 'warn', message: `candidate refused: ${refused}` })
  let m = refused != null ? notRun(refused) : await runOnce(o, seq, 'candidate')
  let verdict = m.status === 'ok' ? firstLook(m.value!, before!, margin, o.confirm !== false, o.decisive) : 'discard'
  let figures = m.value == null ? [] : [m.value]
  // Kept on one run although confirmation is on: decisively better (decide.ts).
  const decisive = verdict === 'keep' && o.confirm !== false
  if (verdict === 'confirm') {
    o.onEvent({ type: 'log', level: 'info', message: `promising (${m.value!.toFixed(4)} vs ${before!.toFixed(4)}): confirming with a second run` })
    const again = await runOnce(o, seq, 'confirm')
    if (again.status === 'ok') {
      figures = [m.value!, again.value!]
      verdict = afterConfirm(m.value!, again.value!, before!, margin)
    } else {
      verdict = 'discard'
      if (again.status !== 'aborted') m = { ...again, reason: `confirming run failed: ${again.reason}` }
    }
    if (again.status === 'aborted') m = again
  }
  if (m.status === 'aborted') {
    await ws.resetTo(s.baseline.commit)
    return null
  }
  const diff = await ws.diff(s.baseline.commit, commit)
  const status: ExperimentRecord['status'] = m.status === 'ok' ? (verdict === 'keep' ? 'keep' : 'discard') : m.status === 'invalid' ? 'invalid' : 'crash'
  const fields = recordFields(m)
  if (figures.length === 2) fields.metrics = { ...fields.metrics, first_run: figures[0]!, confirm_run: figures[1]! }
  if (decisive) fields.metrics = { ...fields.metrics, decisive_margins: o.decisive ?? DECISIVE_MARGINS }
  const value = figures.length > 0 ? mean(figures) : null
  const rec: ExperimentRecord = {
    ...baseRecord(s, seq, startedAt), commit, parent: s.baseline.commit, status, description: proposal.description, proposer,
    child, parent_content: s.baseline.content, decision_bpb: value, baseline_bpb: before, detail: proposal.detail, ...fields,
    margin, ...(origin != null ? { origin } : {}), ...(merged != null ? { merged: merged.child } : {})
  }
  if (status === 'keep') {
    s.baseline = { commit, files, content: contentHash(files), value, record: rec }
  } else {
    await ws.resetTo(s.baseline.commit)
  }
  await append(o, rec, diff, files, before)
  return { rec, files, tail: m.tail }
}

/**
 * autoresearch's advice on a crash: if it is something easy to fix, fix it and run
 * again. The proposer gets the run's tail and may fix its own candidate, each fix
 * its own experiment. Returns how many experiments ran, or null when aborted.
 */
async function repairCrash (o: LoopOptions, proposal: Proposal, crashed: Outcome, budget: number): Promise<number | null> {
  const max = Math.min(o.maxRepairs ?? DEFAULT_MAX_REPAIRS, budget)
  let ran = 0
  let last = { proposal, outcome: crashed }
  for (let attempt = 1; attempt <= max && o.proposer.repair != null && !o.signal.aborted; attempt++) {
    const crash: CrashReport = { proposal: last.proposal, files: last.outcome.files, reason: last.outcome.rec.reason, tail: last.outcome.tail, attempt }
    const fix = await o.proposer.repair(await proposeContext(o), crash)
    if (fix == null || o.signal.aborted) break
    const repaired = { ...fix, description: fix.description.startsWith('repair: ') ? fix.description : `repair: ${fix.description}` }
    let outcome: Outcome | null
    try {
      outcome = await experiment(o, repaired, fix.proposer ?? o.proposer.name)
    } catch (err) {
      if (!(err instanceof CandidateRejected)) throw err
      o.onEvent({ type: 'log', level: 'warn', message: `repair rejected: ${err.message}` })
      continue
    }
    if (outcome == null) return null
    ran++
    if (outcome.rec.status !== 'crash') break
    last = { proposal: repaired, outcome }
  }
  return ran
}

export async function runLoop (o: LoopOptions): Promise<void> {
  const s = o.session
  if ((s.baseline.value == null || o.measureNoise === true) && !(await runBaseline(o))) return
  let done = 0
  let idleSaid = false
  while (!o.signal.aborted && (o.maxExperiments === undefined || done < o.maxExperiments)) {
    // A baseline taken with no run whose first use landed far off is re-measured before anything else.
    if (!(await verifyByUse(o))) return
    // A better baseline found elsewhere comes first: the agent's idea can wait.
    const adoption = o.inbox != null ? await o.inbox.next(adoptionSnapshot(s), o.signal) : null
    if (o.signal.aborted) return
    if (adoption?.kind === 'adopt') {
      try {
        await adopt(o, adoption)
      } catch (err) {
        if (!(err instanceof CandidateRejected)) throw err
        o.onEvent({ type: 'log', level: 'warn', message: `not adopted: ${err.message}` })
      }
      continue
    }
    const proposal = adoption?.proposal ?? await propose(o)
    if (o.signal.aborted) return
    if (proposal == null) {
      if (o.inbox == null) {
        o.onEvent({ type: 'idle', reason: `proposer ${o.proposer.name} has nothing new to try against this baseline` })
        return
      }
      if (!idleSaid) o.onEvent({ type: 'idle', reason: `proposer ${o.proposer.name} has nothing to try: waiting for results from the swarm` })
      idleSaid = true
      await o.inbox.wait(5000, o.signal)
      continue
    }
    idleSaid = false
    try {
      const outcome = adoption?.kind === 'reproduce'
        ? await experiment(o, adoption.proposal, 'adopt', { ...adoption.origin, how: 'reproduce' })
        : adoption?.kind === 'stack'
          ? await experiment(o, adoption.proposal, 'stack', { ...adoption.origin, how: 'stack' }, adoption.lineage)
          : await experiment(o, proposal, proposal.proposer ?? o.proposer.name)
      if (outcome == null) return
      // Only the proposer's own ideas are repaired: a peer's crashing result is simply not adopted.
      if (adoption == null && outcome.rec.status === 'crash' && (proposal.proposer ?? o.proposer.name) === o.proposer.name) {
        const left = o.maxExperiments === undefined ? Infinity : o.maxExperiments - done - 1
        const repairs = await repairCrash(o, proposal, outcome, left)
        if (repairs == null) return
        done += repairs
      }
    } catch (err) {
      if (!(err instanceof CandidateRejected)) throw err
      o.onEvent({ type: 'log', level: 'warn', message: `candidate rejected: ${err.message}` })
    }
    done++
  }
}
