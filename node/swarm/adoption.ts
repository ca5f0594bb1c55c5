/**
 * Adoption policy, apart from all I/O: which results from the swarm this node
 * takes, runs or stacks, and on what evidence. A stranger's result is a claim.
 *
 * Three ways a peer's keep reaches our baseline, cheapest first:
 * - adopt with no run of our own, where this node's trust accepts evidence in
 *   its place: a trusted attester's reproduction, or in a private swarm a
 *   member's confirmed keep. The loop then verifies the baseline by use (its
 *   first experiment lands near the claimed figure, or the baseline is
 *   re-measured and dropped when the claim fails).
 * - stack: a keep made on a baseline we had (P -> C) while ours moved on (B):
 *   run B + the change, which keeps our gains and adds the peer's.
 * - reproduce: run its content as our next experiment, under the keep rule.
 *   One node reproduces a result for the swarm: while a trusted peer claims
 *   to be running it, others wait for its attestation (then adopt on it).
 *
 * Keep (the loop's keep rule) and attest (the claim rule, `claimHolds`) are
 * decided in trainer/decide.ts; the trust book judges third parties'
 * attestations by the same claim rule.
 */
import { claimedFigure, type Evidence, type ResultMsg } from '../../protocol/index.ts'
import { FAR_GAIN_FACTOR, FAR_GAIN_MARGINS, FAR_GAIN_PATIENCE, STACK_MIN_MARGINS } from './constants.ts'

// The claim rule lives beside the keep rule (trainer/decide.ts): one place judges keep and attest.
export { claimHolds, reproductionTolerance, reproductionVerdict } from '../../trainer/decide.ts'
import { DECISIVE_MARGINS } from '../../trainer/decide.ts'

export type Decision =
  /** Take it as our baseline with no run here: the evidence stands in for our run. */
  | { action: 'adopt', reason: string, figure: number }
  | { action: 'reproduce', reason: string }
  /** Run our baseline with the result's change applied (trainer/stack.ts). */
  | { action: 'stack', reason: string }
  /** Worth a run, but not yet: the budget for unverified authors is spent, or a trusted reproduction is awaited. */
  | { action: 'wait', reason: string }
  | { action: 'idea', reason: string }
  | { action: 'ignore', reason: string }

export interface Mine {
  project: string
  track: string
  peerId: string
  /** The figure a candidate must beat here; null before the baseline is measured. */
  baseline: number | null
  /** Content hash of our baseline. */
  baselineContent: string
  /** The noise margin in force here (trainer/noise.ts: this node's own noise, measured). */
  margin: number
  /**
   * The project's noise margin (the manifest's): the one yardstick every node
   * of the project shares, where each node's measured margin is its own.
   */
  floor: number
}

/** What this node's trust says about a result, and what it can afford. */
export interface Facts {
  /** The author: caught lying, whose improvements we kept, or neither. */
  standing: 'distrusted' | 'verified' | 'unknown'
  /** The result's content under this node's own evidence view. */
  evidence: Evidence
  /** Content already run against our baseline. */
  tried: boolean
  /** The largest gain this node has itself verified (0: none yet). */
  largestGain: number
  /** Experiments this node has run since the result was offered to it. */
  waited?: number
  /** A run on an unverified claim is affordable now (see NEW_AUTHOR_EVERY, UNVERIFIED_EVERY). */
  budget: boolean
  /** The author is a member of our private swarm (trust.ts: `member`). */
  member?: boolean
  /** A trusted peer (not the author) claims to be running this content now: its attestation is on the way. */
  runningBy?: string | null
  /** Milliseconds until it is this node's turn to reproduce it for the swarm (`reproduceRank`); 0 or absent: now. */
  turnIn?: number
}

/** What stacking a result needs to know besides Facts. */
export interface StackFacts extends Facts {
  /** Its parent is a content this node has had as its baseline: its change means the same here. */
  parentInLineage: boolean
  /** This node applied (or tried to apply) this result's change before: once is enough. */
  stackedBefore: boolean
}

/**
 * The order in which the trusted peers that could reproduce a result take
 * their turn (this node's place in it, 0 first): fixed by the result and the
 * peer ids, the same on every node, so two of them never start it at the
 * same moment. Each waits its place times REPRODUCE_STAGGER_MS for an earlier
 * one's claim before it runs the result itself.
 */
export function reproduceRank (resultId: string, self: string, peers: readonly string[]): number {
  const key = (p: string): number => fnv1a(`${resultId}:${p}`)
  const mine = key(self)
  return new Set(peers.filter(p => p !== self && (key(p) < mine || (key(p) === mine && p < self)))).size
}

function fnv1a (text: string): number {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

/**
 * A keep that passed the keep rule's confirmation: a second run (the loop
 * records both in its metrics), or a gain so far beyond the noise that the
 * rule keeps it on one run (trainer/decide.ts: DECISIVE_MARGINS). Judged by
 * the project's margin (`floor`), not by this node's measured one: the author
 * kept it on one run only past DECISIVE_MARGINS of its own margin, which is at
 * least the project's, so every honest decisive keep passes here on every node,
 * whatever noise each happened to measure (three runs give σ to within a
 * factor of two), and a swarm does not split on whose keep counts.
 */
export function confirmedKeep (r: ResultMsg, floor: number): boolean {
  if (r.status !== 'keep') return false
  if (typeof r.metrics.first_run === 'number' && typeof r.metrics.confirm_run === 'number') return true
  const gain = claimedGain(r)
  return gain != null && gain >= DECISIVE_MARGINS * floor
}

/** The gain a keep claims over the baseline it was made on; null when it does not say. */
export function claimedGain (r: ResultMsg): number | null {
  const figure = claimedFigure(r)
  const base = r.metrics.baseline_bpb
  return figure == null || typeof base !== 'number' ? null : base - figure
}

/**
 * Evidence this node accepts in place of a run of its own, or null: trusted
 * attesters' reproductions (their median figure), or a private swarm member's
 * confirmed keep (its figure). Free keys never get here: they weigh nothing.
 */
export function evidenceInPlaceOfARun (r: ResultMsg, f: Pick<Facts, 'evidence' | 'member'>, floor: number): { figure: number, words: string } | null {
  const e = f.evidence
  if (e.kind === 'reproduced' && e.figure != null) return { figure: e.figure, words: `reproduced by ${e.reproducers} trusted peer${e.reproducers === 1 ? '' : 's'}` }
  const figure = claimedFigure(r)
  if (f.member === true && e.kind === 'claimed' && e.failed === 0 && figure != null && confirmedKeep(r, floor)) return { figure, words: 'a member\'s confirmed keep' }
  return null
}

/**
 * What can be told of a result the moment it arrives, whatever the loop is
 * doing: null when it may be worth a run later, else why not (or that it is
 * only an idea, from another track).
 */
export function screenResult (r: ResultMsg, me: Pick<Mine, 'project' | 'track' | 'peerId' | 'baselineContent'>, standing: Facts['standing']): Decision | null {
  if (r.project !== me.project) return { action: 'ignore', reason: 'another project' }
  if (r.author === me.peerId) return { action: 'ignore', reason: 'our own result' }
  if (r.status !== 'keep') return { action: 'ignore', reason: `a ${r.status}, nothing to adopt` }
  if (standing === 'distrusted') return { action: 'ignore', reason: 'its author was caught lying' }
  // A peer's reproduction of what we already run is news, not a candidate.
  if (r.child === me.baselineContent) return { action: 'ignore', reason: 'it is our baseline' }
  // Tracks are hardware classes: a figure from another class says little about ours.
  if (r.track !== me.track) return { action: 'idea', reason: `kept on track ${r.track}, not ours (${me.track})` }
  return null
}

export function considerResult (r: ResultMsg, me: Mine, f: Facts): Decision {
  const screened = screenResult(r, me, f.standing)
  if (screened != null) return screened
  if (f.tried) return { action: 'ignore', reason: 'already tried against this baseline' }
  if (f.evidence.kind === 'verified') return { action: 'ignore', reason: 'already measured here' }
  const reproduced = f.evidence.kind === 'reproduced'
  // A trusted peer found it does not hold: one reproduction for the swarm is enough.
  if (!reproduced && f.evidence.failed > 0) return { action: 'ignore', reason: 'a trusted peer could not reproduce it' }
  const figure = reproduced ? f.evidence.figure : claimedFigure(r)
  if (figure == null || me.baseline == null) return { action: 'ignore', reason: 'no figure to compare' }
  if (!(figure < me.baseline - me.margin)) return { action: 'ignore', reason: `${reproduced ? 'reproduced at' : 'claims'} ${figure.toFixed(4)}, not better than our ${me.baseline.toFixed(4)}` }
  const evidence = evidenceInPlaceOfARun(r, f, me.floor)
  if (evidence != null) return { action: 'adopt', reason: `${evidence.words} at ${evidence.figure.toFixed(4)} vs our ${me.baseline.toFixed(4)}`, figure: evidence.figure }
  const why = `claims ${figure.toFixed(4)} vs our ${me.baseline.toFixed(4)}`
  // One reproduction for the swarm: a trusted peer's attestation will be evidence here.
  if (f.runningBy != null) return { action: 'wait', reason: `peer ${f.runningBy.slice(-8)} is reproducing it for the swarm` }
  if ((f.turnIn ?? 0) > 0) return { action: 'wait', reason: 'a trusted peer goes first: its claim, then its attestation, may make our run needless' }
  if (f.standing === 'verified' || f.member === true) return { action: 'reproduce', reason: why }
  return rationed(me, f, me.baseline - figure, why, 'reproduce')
}

/**
 * Whether to run our baseline with `r`'s change applied: a keep (a peer's, or
 * our own from before we adopted another lineage) made on a baseline we had,
 * with a gain large enough to carry over (STACK_MIN_MARGINS), not applied here
 * before. Whether the change applies, and whether that content was tried, is
 * the inbox's to find out (trainer/stack.ts).
 */
export function considerStack (r: ResultMsg, me: Mine, f: StackFacts): Decision {
  if (r.project !== me.project || r.status !== 'keep') return { action: 'ignore', reason: 'nothing to stack' }
  if (f.standing === 'distrusted') return { action: 'ignore', reason: 'its author was caught lying' }
  if (r.track !== me.track) return { action: 'ignore', reason: `kept on track ${r.track}, not ours` }
  if (r.child === me.baselineContent || r.parent === me.baselineContent) return { action: 'ignore', reason: 'made on our baseline: nothing to stack' }
  if (!f.parentInLineage) return { action: 'ignore', reason: 'made on a baseline this node never had' }
  if (f.stackedBefore) return { action: 'ignore', reason: 'its change was applied here before' }
  if (f.evidence.kind !== 'verified' && f.evidence.kind !== 'reproduced' && f.evidence.failed > 0) return { action: 'ignore', reason: 'a trusted peer could not reproduce it' }
  const gain = claimedGain(r)
  if (gain == null || !(gain >= STACK_MIN_MARGINS * me.margin)) return { action: 'ignore', reason: `no gain worth carrying over (under ${STACK_MIN_MARGINS} margins)` }
  const why = `its change gained ${gain.toFixed(4)} on its parent`
  const own = r.author === me.peerId
  if (own || f.standing === 'verified' || f.member === true || f.evidence.kind === 'reproduced' || f.evidence.kind === 'verified') return { action: 'stack', reason: why }
  return rationed(me, f, gain, why, 'stack')
}

/**
 * A claimed gain beyond this is "far" once this node has verified a gain of
 * its own (Infinity before: no yardstick yet).
 */
export function farGain (largestGain: number, margin: number): number {
  return largestGain > 0 ? Math.max(FAR_GAIN_FACTOR * largestGain, FAR_GAIN_MARGINS * margin) : Number.POSITIVE_INFINITY
}

/**
 * A run on the author's word alone: spaced by the budget; a gain far beyond
 * what this node has verified waits FAR_GAIN_PATIENCE experiments for a
 * trusted reproduction first (an honest breakthrough in a swarm where nobody
 * is trusted yet still gets its run, on the same ration as any other claim).
 */
function rationed (me: Mine, f: Facts, gain: number, why: string, action: 'reproduce' | 'stack'): Decision {
  if (gain > farGain(f.largestGain, me.margin) && (f.waited ?? 0) < FAR_GAIN_PATIENCE) {
    return { action: 'wait', reason: `claims a gain of ${gain.toFixed(4)}, far beyond the ${f.largestGain.toFixed(4)} verified here: waiting for a trusted reproduction (at most ${FAR_GAIN_PATIENCE} experiments)` }
  }
  if (!f.budget) return { action: 'wait', reason: 'runs on unverified claims are spent for now' }
  return { action, reason: why }
}
