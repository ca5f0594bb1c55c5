/**
 * One group of the swarm model: K nodes searching the landscape with the real
 * mutation proposer (trainer/proposers/mutation.ts) and the real keep rule
 * (trainer/decide.ts), in simulated time where one training run takes 1.
 *
 * What it keeps of a real node: a baseline of three runs whose mean is its
 * figure; a candidate kept on one decisive run, else confirmed by a second;
 * per-node proposer seeds; in a swarm, every peer's results and running claims
 * in the tried view and its outcomes in the proposer's weights, a peer's keep
 * better than our baseline taken with no run (a member's confirmed keep), and
 * a stack (node/swarm/adoption.ts: considerStack): a keep made on a baseline
 * this node had, ours or a peer's, with a gain of STACK_MIN_MARGINS, its change
 * applied to the baseline we have now and run, once per node, unless a peer
 * runs or ran it; the proposer's step-back hint (trainer/step-back.ts): the runs
 * made on the node's last few baselines, its own and heard peers', and peers'
 * runs in flight on them. What it leaves out: CPU contention, crashes' repairs, trust
 * (every peer is a member), the DHT, content fetches (a keep is usable
 * `latency` after it ends), and a loop that never stops to wait.
 */
import { contentHash } from '../../protocol/index.ts'
import { afterConfirm, firstLook, mean } from '../../trainer/decide.ts'
import { applyMutation, findConstants, proposeMutation, rng, seedFor, type Mutation } from '../../trainer/proposers/mutation.ts'
import type { PastExperiment, PeerOutcome, Proposal } from '../../trainer/proposers/types.ts'
import { NOISE_SIGMA, trueBpb } from './surface.ts'

export interface Policy {
  /** Margins of gain that keep a candidate on one run (trainer/decide.ts's DECISIVE_MARGINS). */
  decisive: number
  /** The project's noise margin. */
  margin: number
  /** Time from a run's end until every peer holds its result (publication, gossip, the peer's loop). */
  latency: number
  /** Time between two experiments of one node (git, proposing, publishing), and for taking a peer's keep. */
  gap: number
  /** Run keeps' changes made on an earlier baseline of ours on the one we have now (the adoption inbox's stack). */
  stack: boolean
  /** Stack only this node's own keeps lost to a peer's better one. */
  stackOwnOnly?: boolean
  /** Stack only keeps that gained at least this many margins (node/swarm/constants.ts: STACK_MIN_MARGINS). */
  stackMinMargins?: number
  /** Stop a run in flight on a baseline a peer's keep has just beaten, and take the keep at once. */
  cut?: boolean
  /** Earlier baselines whose runs the proposer hears of (trainer/step-back.ts: STEP_BACK_BASELINES; 0: none). */
  stepBack: number
}

export interface Group { size: number, swarm: boolean, seed: number, start: string, target: number, horizon: number, policy: Policy }

interface Keep { author: number, parent: string, child: string, files: Record<string, string>, figure: number, gain: number, at: number, mutation?: Mutation }
interface Run { author: number, parent: string, child: string, description: string, status: string, figure: number | null, baseline: number, at: number }
interface Claim { author: number, parent: string, child: string, from: number, to: number, description: string }

interface NodeState {
  i: number
  random: () => number
  t: number
  files: Record<string, string>
  figure: number
  content: string
  history: PastExperiment[]
  tried: Map<string, Set<string>>
  /** Every content this node has had as its baseline. */
  lineage: Set<string>
  /** The baselines before this one, the latest last. */
  earlier: string[]
  /** Keeps whose change this node applied (or found would not apply). */
  stacked: Set<string>
  /** The run in flight: its outcome is drawn at its start and known to others at its end. */
  pending: Pending | null
}

interface Pending { parent: string, baseline: number, child: string, files: Record<string, string>, proposal: Proposal, status: string, figure: number | null, claim: Claim }

const FILE = 'train.py'

/** Gaussian draws from a seeded uniform source (Box-Muller). */
function gaussian (u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u())
}

/** A one-constant change made on another baseline, on this text: null where the constant moved since (a stack's conflict). */
function applyChange (text: string, m: Mutation): string | null {
  const c = findConstants(FILE, text).find(x => x.name === m.name)
  return c?.raw === m.from ? applyMutation(text, c, m.to) : null
}

export interface GroupRun {
  /** From the first baseline's end until a node's baseline is truly at or below the target (Infinity: not within the horizon). */
  time: number
  /** Training runs of the group's experiments (a confirmed candidate is two), and of its stacked candidates (kept). */
  runs: number
  stacks: number
  stacksKept: number
}

export function runGroup (g: Group): GroupRun {
  const out: GroupRun = { time: Infinity, runs: 0, stacks: 0, stacksKept: 0 }
  const { policy: p } = g
  const noise = gaussian(rng(g.seed * 7919 + g.size * 31 + (g.swarm ? 1 : 0)))
  const run = (text: string): number | null => { const v = trueBpb(text); return v == null ? null : v + NOISE_SIGMA * noise() }
  const keeps: Keep[] = []
  const runs: Run[] = []
  const claims: Claim[] = []
  const start = { [FILE]: g.start }
  const nodes: NodeState[] = Array.from({ length: g.size }, (_, i) => ({
    i,
    random: rng(seedFor(`model-${g.seed}-${i}`)),
    // The baseline's three runs, and a start-up spread of a fraction of a run.
    t: 3 + 0.5 * Math.abs(noise()),
    files: start,
    figure: mean([0, 1, 2].map(() => run(g.start)!)),
    content: contentHash(start),
    history: [],
    tried: new Map(),
    lineage: new Set([contentHash(start)]),
    earlier: [],
    stacked: new Set(),
    pending: null
  }))
  const t0 = Math.min(...nodes.map(n => n.t))
  let reached = Infinity
  const arrive = (files: Record<string, string>, at: number): void => {
    const v = trueBpb(files[FILE]!)
    if (v != null && v <= g.target) reached = Math.min(reached, at)
  }
  for (;;) {
    const n = nodes.reduce((a, b) => a.t <= b.t ? a : b)
    const now = n.t
    if (now - t0 > g.horizon || now >= reached) break
    if (n.pending != null) {
      // A run ends: its result is published, a keep becomes this node's baseline.
      const r = n.pending
      n.pending = null
      n.history.push({ parent: r.parent, status: r.status, description: r.proposal.description, val_bpb: r.figure, baseline_bpb: r.baseline, detail: r.proposal.detail, child: r.child })
      runs.push({ author: n.i, parent: r.parent, child: r.child, description: r.proposal.description, status: r.status, figure: r.figure, baseline: r.baseline, at: now })
      if (r.status === 'keep' && r.proposal.description.startsWith('stack ')) out.stacksKept++
      // Its baseline cannot have moved during the run: a node takes a peer's keep only between runs.
      if (r.status === 'keep') {
        keeps.push({ author: n.i, parent: r.parent, child: r.child, files: r.files, figure: r.figure!, gain: r.baseline - r.figure!, at: now, mutation: r.proposal.detail?.mutation as Mutation | undefined })
        n.files = r.files
        n.figure = r.figure!
        n.earlier.push(n.content)
        n.content = r.child
        n.lineage.add(r.child)
        arrive(r.files, now)
        if (p.cut === true) cutShort(nodes, n, r.figure!, now, p)
      }
      n.t = now + p.gap
      continue
    }
    if (g.swarm) {
      const heard = (at: number): boolean => at + p.latency <= now
      const best = keeps.filter(k => k.author !== n.i && heard(k.at) && k.figure < n.figure).sort((a, b) => a.figure - b.figure)[0]
      if (best != null) {
        n.files = best.files
        n.figure = best.figure
        n.earlier.push(n.content)
        n.content = best.child
        n.lineage.add(best.child)
        n.t += p.gap
        arrive(n.files, n.t)
        continue
      }
    }
    const tried = n.tried.get(n.content) ?? new Set<string>()
    n.tried.set(n.content, tried)
    const swarmTried = new Map<string, string>()
    const outcomes: PeerOutcome[] = []
    if (g.swarm) {
      for (const r of runs) {
        if (r.author === n.i || r.at + p.latency > now) continue
        if (r.parent === n.content) swarmTried.set(r.child, r.status)
        outcomes.push({ description: r.description, status: r.status })
      }
      for (const c of claims) if (c.author !== n.i && c.from + p.latency <= now && c.to > now && c.parent === n.content) swarmTried.set(c.child, 'running')
    }
    const back = new Set(p.stepBack > 0 ? n.earlier.slice(-p.stepBack) : [])
    const stepBack: PeerOutcome[] = [
      ...runs.filter(r => back.has(r.parent) && (r.author === n.i || r.at + p.latency <= now)).map(r => ({ description: r.description, status: r.status })),
      ...(g.swarm ? claims.filter(c => c.author !== n.i && c.from + p.latency <= now && c.to > now && back.has(c.parent)).map(c => ({ description: c.description, status: 'running' })) : [])
    ]
    const proposal = (p.stack && g.swarm ? stackOf(n, keeps, swarmTried, tried, now, p, claims) : null) ??
      proposeMutation({ files: n.files, editable: [FILE], parent: n.content, history: n.history, tried, swarmTried, swarmOutcomes: outcomes.slice(-2000), stepBack }, n.random)
    if (proposal == null) { n.t += 1; continue }
    const files = { ...n.files, ...proposal.files }
    const child = contentHash(files)
    tried.add(child)
    let status = 'crash'
    let figure: number | null = null
    let took = 1
    const first = run(files[FILE]!)
    if (first != null) {
      figure = first
      let verdict = firstLook(first, n.figure, p.margin, true, p.decisive)
      if (verdict === 'confirm') {
        const second = run(files[FILE]!)!
        took = 2
        figure = mean([first, second])
        verdict = afterConfirm(first, second, n.figure, p.margin)
      }
      status = verdict === 'keep' ? 'keep' : 'discard'
    }
    const claim: Claim = { author: n.i, parent: n.content, child, from: now, to: now + took, description: proposal.description }
    claims.push(claim)
    out.runs += took
    if (proposal.description.startsWith('stack ')) out.stacks++
    n.pending = { parent: n.content, baseline: n.figure, child, files, proposal, status, figure, claim }
    n.t = now + took
  }
  out.time = reached - t0
  return out
}

/** The change of a keep made on an earlier baseline of ours, applied to the one we have now: the largest gain first. */
function stackOf (n: NodeState, keeps: Keep[], swarmTried: Map<string, string>, tried: Set<string>, now: number, p: Policy, claims: Claim[]): Proposal | null {
  const ready = keeps
    .filter(k => k.at + (k.author === n.i ? 0 : p.latency) <= now && k.mutation != null && k.gain >= p.margin * (p.stackMinMargins ?? 1) && !n.stacked.has(k.child) &&
      (p.stackOwnOnly !== true || k.author === n.i) &&
      k.parent !== n.content && k.child !== n.content && n.lineage.has(k.parent))
    .sort((a, b) => b.gain - a.gain)
  for (const k of ready) {
    n.stacked.add(k.child)
    const next = applyChange(n.files[FILE]!, k.mutation!)
    if (next == null) continue
    const child = contentHash({ ...n.files, [FILE]: next })
    if (child === n.content || tried.has(child) || swarmTried.has(child)) continue
    // A peer running the same content (from whatever baseline): its result settles it.
    if (claims.some(c => c.author !== n.i && c.child === child && c.to > now && c.from + p.latency <= now)) continue
    return { files: { [FILE]: next }, description: `stack ${k.mutation!.name} ${k.mutation!.from} -> ${k.mutation!.to}`, detail: {} }
  }
  return null
}

/** Every other node running on a baseline that `figure` beats stops its run when it hears of the keep. */
function cutShort (nodes: NodeState[], author: NodeState, figure: number, at: number, p: Policy): void {
  for (const o of nodes) {
    if (o === author || o.pending == null || figure >= o.figure || o.t <= at + p.latency) continue
    o.pending.claim.to = at + p.latency
    o.pending = null
    o.t = at + p.latency
  }
}
