/**
 * Peers' kept results worth a run here, handed to the research loop one at a
 * time (the most promising first). The loop never waits on the network for
 * them: content is fetched in the background, with deadlines, from the
 * author, then from peers that ran it, then from anyone connected, and must
 * hash to what the result names; `next` hands out only what is already here.
 * A claim whose content nobody serves is dropped and counts against its
 * author. What is worth a run, and when, is the adoption policy's call
 * (adoption.ts) on this node's evidence (trust.ts).
 */
import type { Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { claimedFigure, messageId, type ResultMsg } from '../../protocol/index.ts'
import type { Adoption, AdoptionInbox, AdoptionSnapshot } from '../../trainer/loop.ts'
import { considerResult, screenResult, type Decision, type Facts, type Mine } from './adoption.ts'
import type { Component, SwarmComponents } from './components.ts'
import { connectedPeers } from './components.ts'
import {
  ADOPTION_MAX_PENDING, AWAIT_VERDICT_MAX_MS, NEW_AUTHOR_EVERY, PREFETCH_CONCURRENCY, PREFETCH_DEADLINE_MS, PREFETCH_MAX_PEERS, PREFETCH_PEER_TIMEOUT_MS,
  PREFETCH_RETRY_MS, PREFETCH_ROUNDS, UNVERIFIED_EVERY
} from './constants.ts'
import { fetchContent } from './protocols.ts'
import type { SwarmStore } from './store.ts'
import type { TrustBook } from './trust.ts'

export type InboxEvent =
  | { type: 'adoption-dropped', result: string, author: string, reason: string }
  | { type: 'note', message: string }

export interface SwarmInboxInit {
  project: string
  track: string
  self: string
  margin: number
  editable: string[]
  store: SwarmStore
  trust: TrustBook
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
  state: 'waiting' | 'fetching' | 'ready'
  /** Rounds of asking done, and when the next may start. */
  rounds: number
  retryAt: number
}

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

  constructor (private readonly components: SwarmComponents, private readonly init: SwarmInboxInit) {
    this.log = components.logger.forComponent('swarm-node:adoption-inbox')
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
   * A result from the swarm. What can be told at once (adoption.ts's screen)
   * is returned; anything else is queued and the policy decides, at each of
   * the loop's turns, whether and when it runs. Null: queued.
   */
  offer (result: ResultMsg): Decision | null {
    const screened = screenResult(result, this.mine(), this.init.trust.standing(result.author))
    if (screened != null) return screened
    const id = messageId(result)
    if (this.pending.has(id)) return { action: 'ignore', reason: 'already queued' }
    if (this.pending.size >= ADOPTION_MAX_PENDING) {
      // Keep the most promising claims.
      const worst = [...this.pending.values()].filter(p => p.state === 'waiting').sort((a, b) => figure(b) - figure(a))[0]
      if (worst == null || figure(worst) <= (claimedFigure(result) ?? Infinity)) return { action: 'ignore', reason: 'the queue is full of better claims' }
      this.pending.delete(worst.id)
    }
    this.pending.set(id, { result, id, seq: this.seq++, state: 'waiting', rounds: 0, retryAt: 0 })
    this.pump()
    this.wake()
    return null
  }

  /** Something may have become worth a run (content arrived, trust moved): the loop looks again. */
  wake (): void {
    this.wakeLoop?.()
  }

  async wait (ms: number, signal: AbortSignal): Promise<void> {
    // The loop idles: its proposer has nothing, so a claim on faith costs it nothing else.
    this.idleSinceLast = true
    if (this.queue().some(p => p.state === 'ready' && this.decide(p, true).action === 'reproduce')) return
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

  async next (snapshot: AdoptionSnapshot, signal: AbortSignal): Promise<Adoption | null> {
    this.snapshot = snapshot
    // A handout that recorded nothing (the candidate was refused) will get no verdict.
    if (this.awaiting != null && (snapshot.experiments === this.awaiting.experiments || Date.now() - this.awaiting.at > AWAIT_VERDICT_MAX_MS)) this.awaiting = null
    for (const p of this.queue()) {
      if (signal.aborted) return null
      const d = this.decide(p, true)
      if (d.action === 'ignore' || d.action === 'idea') {
        this.pending.delete(p.id)
        continue
      }
      if (d.action === 'wait' || p.state !== 'ready') continue
      // Content is on disk already (prefetched): no network here.
      const files = await this.init.store.getContent(p.result.child)
      this.pending.delete(p.id)
      if (files == null) continue
      if (this.unverified(p.result)) {
        this.lastUnverified = snapshot.experiments
        this.lastByAuthor.set(p.result.author, snapshot.experiments)
        this.idleSinceLast = false
        this.awaiting = { result: p.id, experiments: snapshot.experiments, at: Date.now() }
      }
      const r = p.result
      return {
        proposal: { files, description: `reproduce ${r.author.slice(-8)}: ${r.description}`.slice(0, 300) },
        origin: { result: p.id, author: r.author, claimed: claimedFigure(r), track: r.track }
      }
    }
    this.pump()
    return null
  }

  private queue (): Pending[] {
    return [...this.pending.values()].sort((a, b) => figure(a) - figure(b) || a.seq - b.seq)
  }

  private mine (): Mine {
    const i = this.init
    return { project: i.project, track: i.track, peerId: i.self, baseline: this.snapshot.baseline.value, baselineContent: this.snapshot.baseline.content, margin: i.margin }
  }

  private unverified (r: ResultMsg): boolean {
    return this.init.trust.standing(r.author) !== 'verified' && this.init.trust.evidence(r).kind === 'claimed'
  }

  private decide (p: Pending, budgeted: boolean): Decision {
    const { trust } = this.init
    const r = p.result
    const experiments = this.snapshot.experiments
    const budget = !budgeted || (this.awaiting == null && (this.idleSinceLast ||
      (experiments - this.lastUnverified >= UNVERIFIED_EVERY && experiments - (this.lastByAuthor.get(r.author) ?? Number.NEGATIVE_INFINITY) >= NEW_AUTHOR_EVERY)))
    const facts: Facts = {
      standing: trust.standing(r.author),
      evidence: trust.evidence(r),
      tried: this.snapshot.tried.has(r.child),
      largestGain: this.snapshot.largestGain,
      budget
    }
    return considerResult(r, this.mine(), facts)
  }

  /** Starts background fetches for the most promising claims worth a run (budget aside), a few at a time. */
  private pump (): void {
    if (this.controller == null) return
    for (const p of this.queue()) {
      if (this.fetching >= PREFETCH_CONCURRENCY) return
      if (p.state !== 'waiting' || p.retryAt > Date.now() || this.decide(p, false).action !== 'reproduce') continue
      p.state = 'fetching'
      this.fetching++
      void this.prefetch(p).finally(() => { this.fetching--; this.pump() })
    }
  }

  private async prefetch (p: Pending): Promise<void> {
    const { store, trust } = this.init
    const r = p.result
    const stop = this.controller?.signal ?? AbortSignal.abort()
    if (await store.getContent(r.child) != null) {
      this.ready(p)
      return
    }
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.init.deadlineMs ?? PREFETCH_DEADLINE_MS)])
    const asked: string[] = []
    let held = false
    for (const peer of this.sources(r)) {
      if (signal.aborted) break
      asked.push(peer)
      try {
        const files = await fetchContent(this.components, peerIdFromString(peer), r.project, r.child, this.init.editable, signal, this.init.peerTimeoutMs ?? PREFETCH_PEER_TIMEOUT_MS)
        await store.putContent(files)
        this.ready(p)
        return
      } catch (err: any) {
        if (err?.code === 'timeout') held = true
        this.log('fetch of %s from %s failed - %e', r.child, peer, err)
      }
    }
    if (stop.aborted || this.pending.get(p.id) !== p) return
    p.rounds++
    const rounds = this.init.rounds ?? PREFETCH_ROUNDS
    // Held past a deadline is how a staller behaves: dropped at once. Refused or cut off quickly
    // (a flapping relayed link, a peer restarting) is asked again, later.
    if (!held && !signal.aborted && p.rounds < rounds) {
      // Another round later, from whoever has it then.
      const pause = (this.init.retryMs ?? PREFETCH_RETRY_MS) * p.rounds
      p.state = 'waiting'
      p.retryAt = Date.now() + pause
      setTimeout(() => { this.pump() }, pause).unref()
      return
    }
    this.pending.delete(p.id)
    // Nobody to ask is not the author's fault; asked and not served is.
    if (asked.length === 0) return
    trust.unserved(r.author)
    this.init.onEvent({ type: 'adoption-dropped', result: p.id, author: r.author, reason: `its content was not served by ${asked.length} peer${asked.length === 1 ? '' : 's'} in ${rounds} rounds of up to ${Math.round((this.init.deadlineMs ?? PREFETCH_DEADLINE_MS) / 1000)} s` })
  }

  private ready (p: Pending): void {
    if (this.pending.get(p.id) !== p) return
    p.state = 'ready'
    this.wake()
  }

  /**
   * Who should hold the content: the author, then peers that reported or
   * attested a run of it, then anyone connected; those we are connected to
   * first (a dial to a peer nobody can reach would eat the deadline).
   */
  private sources (r: ResultMsg): string[] {
    const { store, self, trust } = this.init
    const ran = store.byChild(r.child).map(m => m.author)
    const connected = new Set(connectedPeers(this.components).map(p => p.toString()))
    const all = [...new Set([r.author, ...ran, ...connected])].filter(p => p !== self && !trust.distrusted(p))
    return [...all.filter(p => connected.has(p)), ...all.filter(p => !connected.has(p))].slice(0, PREFETCH_MAX_PEERS)
  }
}

function figure (p: Pending): number {
  return claimedFigure(p.result) ?? Number.POSITIVE_INFINITY
}

export function swarmInbox (init: SwarmInboxInit): (components: SwarmComponents) => SwarmInbox {
  return components => new SwarmInbox(components, init)
}
