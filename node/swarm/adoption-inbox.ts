/**
 * Kept results from the swarm, handed to the research loop one at a time:
 * what to take as our baseline with no run (on evidence this node trusts),
 * what to reproduce, and whose change to stack onto our baseline. The loop
 * never waits on the network for them: their content is made ready in the
 * background (result-content.ts: from the store, rebuilt from a parent held
 * here and the result's diff, or fetched from peers within a deadline) and
 * `next` hands out only what is already here. A claim whose content nobody
 * serves in a few rounds is dropped, and counts against its author when a
 * peer held or refused the ask (not when the network cut it off: a relayed
 * link that kept dropping). What is worth a run, and when, is the adoption
 * policy's call (adoption.ts) on this node's evidence (trust.ts); who is
 * running what in the swarm, the tried view's (tried-view.ts).
 *
 * Our own keeps come here too: once this node adopts another lineage, the
 * change of its own earlier keep is stacked onto it like a peer's.
 */
import type { Logger } from '@libp2p/interface'
import { claimedFigure, contentHash, messageId, type ResultMsg } from '../../protocol/index.ts'
import type { Adoption, AdoptionInbox, AdoptionSnapshot } from '../../trainer/loop.ts'
import type { ExperimentOrigin } from '../../trainer/results-log.ts'
import { stackChange } from '../../trainer/stack.ts'
import { claimedGain, considerResult, farGain, considerStack, reproduceRank, screenResult, type Decision, type Facts, type Mine } from './adoption.ts'
import type { Component, SwarmComponents } from './components.ts'
import { connectedPeers } from './components.ts'
import {
  ADOPTION_MAX_FAITH_PER_AUTHOR, ADOPTION_MAX_PENDING, AWAIT_VERDICT_MAX_MS, NEW_AUTHOR_EVERY, PREFETCH_CONCURRENCY,
  PREFETCH_RETRY_MS, PREFETCH_ROUNDS, REPRODUCE_STAGGER_MS, UNVERIFIED_EVERY
} from './constants.ts'
import { ResultContent } from './result-content.ts'
import type { SwarmStore } from './store.ts'
import type { TriedView } from './tried-view.ts'
import type { TrustBook } from './trust.ts'

export type InboxEvent =
  | { type: 'adoption-dropped', result: string, author: string, reason: string }
  | { type: 'note', message: string }

export interface SwarmInboxInit {
  project: string
  track: string
  self: string
  editable: string[]
  /** The manifest's noise margin: the project's own yardstick (adoption.ts: `Mine.floor`). */
  noiseMargin: number
  store: SwarmStore
  trust: TrustBook
  /** Who ran or runs what (trusted peers only). */
  tried: TriedView
  /** The loop as it stood when this node joined (later snapshots come with `next`). */
  initial: AdoptionSnapshot
  onEvent: (e: InboxEvent) => void
  peerTimeoutMs?: number
  deadlineMs?: number
  /** Rounds of asking before the content counts as not served, and the pause after the first. */
  rounds?: number
  retryMs?: number
}

interface Pending {
  result: ResultMsg
  id: string
  /** Offer order: the first seen wins a tie. */
  seq: number
  /** This node's experiment count when it was offered: how long a far claim has waited. */
  offeredAt: number
  state: 'waiting' | 'fetching' | 'ready'
  /** Its change was stacked here, or cannot be: never again. */
  stacked: boolean
  /** Rounds of asking done, and when the next may start. */
  rounds: number
  retryAt: number
  /** Whether it was looked for here (in the store, or rebuilt from its parent and diff) before any fetch. */
  triedHere?: boolean
}

/** A stacked candidate worked out for one baseline: its files, or why there is none. */
type Stacked = { files: Record<string, string>, content: string } | { none: string }

export class SwarmInbox implements AdoptionInbox, Component {
  readonly [Symbol.toStringTag] = 'swarm-node/adoption-inbox'
  private readonly log: Logger
  private readonly pending = new Map<string, Pending>()
  private snapshot: AdoptionSnapshot
  private seq = 0
  private fetching = 0
  private wakeLoop: (() => void) | null = null
  private controller?: AbortController
  /** Budget for runs on unverified claims: when the last was handed out, per author, and whether the loop idled since. */
  private lastUnverified = Number.NEGATIVE_INFINITY
  private readonly lastByAuthor = new Map<string, number>()
  private idleSinceLast = true
  /**
   * A run on faith handed out whose verdict is not in yet: until it is, no
   * other runs on faith (the verdict may show the claim's vouchers lying too).
   */
  private awaiting: { result: string, experiments: number, at: number } | null = null
  /** Merges worked out, per result and baseline content. */
  private readonly merges = new Map<string, Stacked>()
  /** This node's turn (ms epoch) to run a result's content or change for the swarm, per result (and baseline, for a stack). */
  private readonly turns = new Map<string, number>()

  private readonly content: ResultContent

  constructor (private readonly components: SwarmComponents, private readonly init: SwarmInboxInit) {
    this.log = components.logger.forComponent('swarm-node:adoption-inbox')
    this.content = new ResultContent(components, init)
    this.snapshot = init.initial
  }

  isStarted (): boolean { return this.controller != null }

  start (): void {
    this.controller ??= new AbortController()
    this.pump()
  }

  stop (): void {
    this.controller?.abort()
    this.controller = undefined
    this.wakeLoop?.()
  }

  get size (): number { return this.pending.size }

  /**
   * A kept result from the swarm, or one of our own. What can be told at once
   * (adoption.ts's screen) is returned; anything else is queued and the
   * policy decides, at each of the loop's turns, whether and when it is
   * adopted, run or stacked. Null: queued.
   */
  offer (result: ResultMsg): Decision | null {
    const own = result.author === this.init.self
    if (own) {
      // Ours only ever to stack, once we follow another lineage.
      if (result.status !== 'keep' || result.project !== this.init.project || result.track !== this.init.track) return { action: 'ignore', reason: 'nothing to stack' }
    } else {
      const screened = screenResult(result, this.mine(), this.init.trust.standing(result.author))
      if (screened != null) return screened
    }
    const id = messageId(result)
    if (this.pending.has(id)) return { action: 'ignore', reason: 'already queued' }
    const onFaith = this.unverified(result)
    if (onFaith) {
      // A few claims on faith per author wait here, its newest: more keys, not more claims, is what a flood then costs.
      // One being fetched stays (its author answers for it when the deadline passes).
      const mine = [...this.pending.values()].filter(p => p.result.author === result.author).sort((a, b) => a.result.time - b.result.time)
      if (mine.length >= ADOPTION_MAX_FAITH_PER_AUTHOR) {
        const older = mine.find(p => p.state !== 'fetching')
        if (older == null || older.result.time >= result.time) return { action: 'ignore', reason: `${ADOPTION_MAX_FAITH_PER_AUTHOR} newer claims of its author are queued` }
        this.pending.delete(older.id)
      }
    }
    if (this.pending.size >= ADOPTION_MAX_PENDING) {
      const victim = this.victim(onFaith ? result : null)
      if (victim == null) return { action: 'ignore', reason: 'the queue is full of claims with more behind them' }
      this.pending.delete(victim.id)
    }
    // Our own content is in the store already.
    this.pending.set(id, { result, id, seq: this.seq++, offeredAt: this.snapshot.experiments, state: own ? 'ready' : 'waiting', stacked: false, rounds: 0, retryAt: 0 })
    this.pump()
    this.wake()
    return null
  }

  /**
   * What a full queue gives up for a new claim: a claim on faith before any
   * with evidence behind it (a free key's word never crowds out a trusted
   * peer's); among those, one far beyond anything verified here first (the
   * oldest), then the least promising. A new claim on faith (`incoming`)
   * displaces only a far one or a less promising one, and a far one only
   * another far one; nothing with evidence.
   */
  private victim (incoming: ResultMsg | null): Pending | null {
    const far = (r: ResultMsg): boolean => (claimedGain(r) ?? 0) > this.farGain()
    const faith = [...this.pending.values()].filter(p => p.result.author !== this.init.self && this.unverified(p.result))
    const farOnes = faith.filter(p => far(p.result)).sort((a, b) => a.seq - b.seq)
    // A far claim displaces only another far one, the oldest.
    if (incoming != null && far(incoming)) return farOnes[0] ?? null
    if (farOnes.length > 0) return farOnes[0]!
    const worst = (ps: Pending[]): Pending | undefined => ps.sort((a, b) => figure(b) - figure(a))[0]
    const worstFaith = worst(faith)
    if (incoming != null) return worstFaith != null && figure(worstFaith) > (claimedFigure(incoming) ?? Infinity) ? worstFaith : null
    // A claim with evidence: any claim on faith goes first, else the least promising one still waiting for its content.
    return worstFaith ?? worst([...this.pending.values()].filter(p => p.state === 'waiting')) ?? null
  }

  /** A claimed gain beyond this is "far" (adoption.ts: farGain). */
  private farGain (): number {
    return farGain(this.snapshot.largestGain, this.snapshot.margin)
  }

  /** Something may have become worth a run (content arrived, trust moved): the loop looks again. */
  wake (): void {
    this.wakeLoop?.()
  }

  async wait (ms: number, signal: AbortSignal): Promise<void> {
    // The loop idles: its proposer has nothing, so a claim on faith costs it nothing else.
    this.idleSinceLast = true
    // Something to take or run now (a stack that is not a candidate here yet wakes the loop when it is: a turn's timer, a peer's result).
    if (this.queue().some(p => p.state === 'ready' && ['adopt', 'reproduce'].includes(this.decide(p, true).action))) return
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); this.wakeLoop = null; resolve() }
      const t = setTimeout(done, ms)
      signal.addEventListener('abort', done)
      this.wakeLoop = done
    })
  }

  /** Our verdict on a reproduction this inbox handed out is recorded (the trust book has it). */
  settled (result: string): void {
    if (this.awaiting?.result !== result) return
    this.awaiting = null
    this.wake()
  }

  /**
   * The loop's next step from the swarm, cheapest first: a result to take as
   * our baseline with no run; else a run (a reproduction, or our baseline
   * with a peer's change applied, a change made on our lineage tried as a
   * stack before its whole content is reproduced); else null. Only content
   * already here is handed out: no network.
   */
  async next (snapshot: AdoptionSnapshot, signal: AbortSignal): Promise<Adoption | null> {
    this.snapshot = snapshot
    // A handout that recorded nothing (the candidate was refused) will get no verdict.
    if (this.awaiting != null && (snapshot.experiments === this.awaiting.experiments || Date.now() - this.awaiting.at > AWAIT_VERDICT_MAX_MS)) this.awaiting = null
    const decided = this.queue().map(p => ({ p, d: this.decide(p, true) }))
    for (const { p, d } of decided) {
      if (signal.aborted) return null
      if (d.action === 'adopt' && p.state === 'ready') {
        const files = await this.init.store.getContent(p.result.child)
        this.pending.delete(p.id)
        if (files == null) continue
        return { kind: 'adopt', files, figure: d.figure, description: `adopt ${p.result.author.slice(-8)}: ${p.result.description}`.slice(0, 300), origin: { ...origin(p), evidence: d.reason } }
      }
    }
    // Runs: reproductions (better claims first), then stacks (larger gains first).
    for (const { p, d } of decided) {
      if (signal.aborted) return null
      if (d.action !== 'reproduce' || p.state !== 'ready') continue
      // Made on a baseline we had: its change on ours reproduces its gain and keeps ours.
      const stack = this.stackable(p) ? await this.stack(p) : null
      if (stack === 'later') continue
      if (stack != null) return stack
      const files = await this.init.store.getContent(p.result.child)
      this.pending.delete(p.id)
      if (files == null) continue
      this.spend(p, true)
      const r = p.result
      return { kind: 'reproduce', proposal: { files, description: `reproduce ${r.author.slice(-8)}: ${r.description}`.slice(0, 300) }, origin: origin(p) }
    }
    const stacks = decided.filter(({ p, d }) => d.action === 'stack' && p.state === 'ready').sort((a, b) => (claimedGain(b.p.result) ?? 0) - (claimedGain(a.p.result) ?? 0))
    for (const { p } of stacks) {
      if (signal.aborted) return null
      const stack = await this.stack(p)
      if (stack != null && stack !== 'later') return stack
    }
    // What can never be adopted, run or stacked here is forgotten.
    for (const { p, d } of decided) if ((d.action === 'ignore' || d.action === 'idea') && this.decideStack(p, false).action === 'ignore') this.pending.delete(p.id)
    this.pump()
    return null
  }

  private queue (): Pending[] {
    return [...this.pending.values()].sort((a, b) => figure(a) - figure(b) || a.seq - b.seq)
  }

  private mine (): Mine {
    const i = this.init
    return { project: i.project, track: i.track, peerId: i.self, baseline: this.snapshot.baseline.value, baselineContent: this.snapshot.baseline.content, margin: this.snapshot.margin, floor: i.noiseMargin }
  }

  private unverified (r: ResultMsg): boolean {
    const { trust } = this.init
    return r.author !== this.init.self && trust.standing(r.author) !== 'verified' && !trust.member(r.author) && trust.evidence(r).kind === 'claimed'
  }

  /**
   * A run on an unverified author's word handed out: the budget is spent. A
   * reproduction's verdict is awaited before the next one (a stacked run
   * gets no verdict: it ran other content).
   */
  private spend (p: Pending, verdict: boolean): void {
    if (!this.unverified(p.result)) return
    const n = this.snapshot.experiments
    this.lastUnverified = n
    this.lastByAuthor.set(p.result.author, n)
    this.idleSinceLast = false
    if (verdict) this.awaiting = { result: p.id, experiments: n, at: Date.now() }
  }

  private facts (p: Pending, budgeted: boolean): Facts {
    const { trust, tried } = this.init
    const r = p.result
    const experiments = this.snapshot.experiments
    const budget = !budgeted || (this.awaiting == null && (this.idleSinceLast ||
      (experiments - this.lastUnverified >= UNVERIFIED_EVERY && experiments - (this.lastByAuthor.get(r.author) ?? Number.NEGATIVE_INFINITY) >= NEW_AUTHOR_EVERY)))
    return {
      standing: trust.standing(r.author),
      evidence: trust.evidence(r),
      tried: this.snapshot.tried.has(r.child),
      largestGain: this.snapshot.largestGain,
      waited: experiments - p.offeredAt,
      budget,
      member: trust.member(r.author),
      runningBy: tried.runningNow(r.child, [r.author]),
      turnIn: this.turnIn(p.id, p)
    }
  }

  /**
   * How long until it is our turn to run `p`'s content (or, keyed by the
   * baseline too, its change on our baseline) for the swarm, among the
   * trusted peers connected now: the first to start claims it, and its
   * result or attestation is evidence for the others. Turns count from a time
   * every node reads alike: when the result was made, or, for a stack, when
   * our baseline's content was (its keep's signed time), whichever is later.
   * The loop is woken when the turn comes.
   */
  private turnIn (key: string, p: Pending, stack = false): number {
    const { trust, self, store } = this.init
    let at = this.turns.get(key)
    if (at == null) {
      const peers = connectedPeers(this.components).map(x => x.toString()).filter(x => x !== p.result.author && trust.attesterWeight(x) > 0 && !trust.distrusted(x))
      const base = stack ? store.byChild(this.snapshot.baseline.content).filter(m => m.kind === 'result' && m.status === 'keep').map(m => m.time) : []
      const from = Math.min(Date.now(), Math.max(p.result.time, base.length > 0 ? Math.min(...base) : 0))
      at = from + reproduceRank(key, self, peers) * REPRODUCE_STAGGER_MS
      if (this.turns.size > 1024) this.turns.clear()
      this.turns.set(key, at)
      const wait = at - Date.now()
      if (wait > 0) setTimeout(() => { this.wake() }, wait).unref?.()
    }
    return Math.max(0, at - Date.now())
  }

  /** Adopt, reproduce or leave this result; our own results are only ever stacked. */
  private decide (p: Pending, budgeted: boolean): Decision {
    if (p.result.author === this.init.self) return this.decideStack(p, budgeted)
    const d = considerResult(p.result, this.mine(), this.facts(p, budgeted))
    return d.action === 'ignore' || d.action === 'idea' ? this.decideStack(p, budgeted) : d
  }

  private decideStack (p: Pending, budgeted: boolean): Decision {
    const r = p.result
    return considerStack(r, this.mine(), {
      ...this.facts(p, budgeted),
      parentInLineage: this.snapshot.lineage.has(r.parent),
      stackedBefore: p.stacked || this.snapshot.stacked.has(p.id)
    })
  }

  private stackable (p: Pending): boolean {
    return this.decideStack(p, true).action === 'stack'
  }

  /**
   * Our baseline with `p`'s change applied, as a candidate; null when the
   * change does not apply here, or that content was run here or by a trusted
   * peer on this baseline (never again); 'later' when a trusted peer runs it
   * now or goes first (look again when its result is in).
   */
  private async stack (p: Pending): Promise<Adoption | 'later' | null> {
    const r = p.result
    const base = this.snapshot.baseline
    const key = `${p.id}:${base.content}`
    let made = this.merges.get(key)
    if (made == null) {
      made = await this.merge(r, base.files)
      if (this.merges.size > 256) this.merges.clear()
      this.merges.set(key, made)
    }
    if ('none' in made) {
      p.stacked = true
      this.log('not stacking %s: %s', p.id, made.none)
      return null
    }
    if (this.snapshot.tried.has(made.content) || this.init.tried.tried(base.content).has(made.content)) {
      p.stacked = true
      return null
    }
    if (this.init.tried.runningNow(made.content) != null) return 'later'
    // Peers on this baseline work out the same candidate: one runs it, by turns.
    if (this.turnIn(key, p, true) > 0) return 'later'
    p.stacked = true
    this.spend(p, false)
    const lineage = { author: r.author, result: p.id, parent: r.parent, child: r.child }
    return {
      kind: 'stack',
      proposal: { files: made.files, description: `stack ${r.author === this.init.self ? 'our earlier' : r.author.slice(-8) + "'s"} ${r.description}`.slice(0, 300) },
      origin: origin(p),
      lineage
    }
  }

  private async merge (r: ResultMsg, base: Record<string, string>): Promise<Stacked> {
    const { store } = this.init
    const [parent, child] = await Promise.all([store.getContent(r.parent), store.getContent(r.child)])
    if (parent == null || child == null) return { none: 'its parent or its content is not here' }
    try {
      const s = await stackChange({ parent, child, base, editable: this.init.editable })
      if (s.status === 'contained') return { none: 'our baseline holds its change already' }
      if (s.status === 'conflict') return { none: `it changes what ours changed (${s.conflicts.join(', ')})` }
      return { files: s.files, content: contentHash(s.files) }
    } catch (err: any) {
      return { none: `the merge failed: ${String(err?.message ?? err)}` }
    }
  }

  /** Starts background fetches for the most promising results worth a run or a stack (budget aside), a few at a time. */
  private pump (): void {
    if (this.controller == null) return
    for (const p of this.queue()) {
      if (p.state !== 'waiting' || p.retryAt > Date.now() || !['adopt', 'reproduce', 'stack'].includes(this.decide(p, false).action)) continue
      // Rebuilt from content here takes no network slot: a keep made on our baseline is ready at once.
      // Only where the author's word counts: a flood of free keys' claims is fetched, two at a time, as
      // before, and cannot churn the store's content (our lineage, which stacking needs) at gossip speed.
      if (!p.triedHere && !this.unverified(p.result)) {
        p.triedHere = true
        p.state = 'fetching'
        void this.content.here(p.result).catch(() => false).then(ok => {
          if (this.pending.get(p.id) !== p) return
          if (ok) this.ready(p)
          else p.state = 'waiting'
          this.pump()
        })
        continue
      }
      if (this.fetching >= PREFETCH_CONCURRENCY) return
      p.state = 'fetching'
      this.fetching++
      void this.prefetch(p).finally(() => { this.fetching--; this.pump() })
    }
  }

  private async prefetch (p: Pending): Promise<void> {
    const r = p.result
    const stop = this.controller?.signal ?? AbortSignal.abort()
    const round = await this.content.ask(r, stop)
    if (round.got) {
      this.ready(p)
      return
    }
    if (stop.aborted || this.pending.get(p.id) !== p) return
    p.rounds++
    const rounds = this.init.rounds ?? PREFETCH_ROUNDS
    // Held past a deadline is how a staller behaves: dropped at once. Refused or cut off quickly
    // (a flapping relayed link, a peer restarting) is asked again, later.
    if (!round.held && !round.timedOut && p.rounds < rounds) {
      // Another round later, from whoever has it then.
      const pause = (this.init.retryMs ?? PREFETCH_RETRY_MS) * p.rounds
      p.state = 'waiting'
      p.retryAt = Date.now() + pause
      setTimeout(() => { this.pump() }, pause).unref()
      return
    }
    this.pending.delete(p.id)
    // Nobody to ask, or every ask cut off by the network (a relayed link that kept dropping), is not
    // the author's fault; asked and refused, or held, is.
    if (!round.answered) return
    this.init.trust.unserved(r.author)
    this.init.onEvent({ type: 'adoption-dropped', result: p.id, author: r.author, reason: `its content was not served by ${round.asked} peer${round.asked === 1 ? '' : 's'} in ${rounds} rounds of up to ${Math.round(this.content.deadlineMs / 1000)} s` })
  }

  private ready (p: Pending): void {
    if (this.pending.get(p.id) !== p) return
    p.state = 'ready'
    this.wake()
  }
}

function figure (p: Pending): number {
  return claimedFigure(p.result) ?? Number.POSITIVE_INFINITY
}

function origin (p: Pending): ExperimentOrigin {
  const r = p.result
  return { result: p.id, author: r.author, claimed: claimedFigure(r), track: r.track }
}

export function swarmInbox (init: SwarmInboxInit): (components: SwarmComponents) => SwarmInbox {
  return components => new SwarmInbox(components, init)
}
