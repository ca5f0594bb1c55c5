/**
 * The checks every gossiped message passes on every node, trainer or
 * bootstrap, before it is stored or forwarded: signed by GossipSub, decodes
 * under the protocol (size, schema, canonical form, Ed25519 signature, the
 * topic's project), and written by the peer that published it.
 *
 * Before any of that, `GossipGate` applies rate limits, cheapest first, so a
 * flood costs a map lookup per message and goes no further: per forwarding
 * peer, per author, and for authors this node has never heard of, all of them
 * together (peer ids are free, so a thousand keys must not buy a thousand
 * times the rate). What is over a limit is Ignored (neither stored nor
 * forwarded, and no penalty: an honest relay may carry a burst it did not
 * make), until a peer goes on sending at more than twice its allowance: then
 * its messages are Rejected, GossipSub's score graylists it after a few, and
 * its RPCs are dropped before any signature is checked. What is malformed or
 * forged is Rejected, and the flooder's connection is closed (`onFlood`).
 * Messages arriving through sync pass the same author limits.
 */
import type { Message as GossipMessage } from '@libp2p/gossipsub'
import { ProtocolError, decodeMessage, type Message } from '../../protocol/index.ts'
import { TokenBuckets, type BucketRate } from '../rate-limit.ts'

export const FUTURE_SKEW_MS = 10 * 60_000

export type GossipVerdict =
  | { ok: true, message: Message, from: string }
  /** `report`: false when this peer's rejections were already reported this minute (say it once, not per message). */
  | { ok: false, reject: boolean, reason: string, from: string, report?: boolean }

export async function checkGossip (msg: GossipMessage, project: string, now = Date.now()): Promise<GossipVerdict> {
  if (msg.type !== 'signed') return { ok: false, reject: true, reason: 'unsigned gossip', from: 'unsigned' }
  const from = msg.from.toString()
  let m: Message
  try {
    m = await decodeMessage(msg.data, { expectProject: project })
  } catch (err) {
    return { ok: false, reject: true, reason: err instanceof ProtocolError ? `${err.code}: ${err.message}` : String(err), from }
  }
  // Results are signed twice (GossipSub and ours); the two signers must agree, or a peer is replaying someone else's words.
  if (m.author !== from) return { ok: false, reject: true, reason: `author ${m.author} is not the publisher ${from}`, from }
  if (m.time > now + FUTURE_SKEW_MS) return { ok: false, reject: false, reason: 'from the future', from }
  return { ok: true, message: m, from }
}

export interface GossipLimits {
  /** Messages one connected peer may hand us (its own and what it relays). */
  perPeer: BucketRate
  /** Messages of one author, through any peer or sync. An honest node sends a few a minute. */
  perAuthor: BucketRate
  /** Authors this node has never heard of, all peers together. */
  newAuthors: BucketRate
  /** Peers and authors each limiter remembers; the least recently seen are forgotten. */
  maxTracked: number
}

export const DEFAULT_GOSSIP_LIMITS: Readonly<GossipLimits> = Object.freeze({
  perPeer: { burst: 300, perMinute: 600 },
  perAuthor: { burst: 30, perMinute: 20 },
  newAuthors: { burst: 60, perMinute: 30 },
  maxTracked: 4096
})

/**
 * The rate limits for a project whose experiments last `budgetS` seconds. An
 * honest node sends about three messages an experiment (a claim, a result,
 * an attestation) and a heartbeat every 30 s: a few a minute at autoresearch's
 * budgets, which the defaults allow, but hundreds at a budget of seconds (a
 * synthetic project), where the defaults would drop honest results. The
 * allowance per author is twice that pace, per peer (which relays many
 * authors) four times the author's; never below the defaults. A limits.json
 * overrides both.
 */
export function limitsForBudget (budgetS: number, base: Readonly<GossipLimits> = DEFAULT_GOSSIP_LIMITS): Partial<GossipLimits> {
  const pace = 3 * 60 / Math.max(budgetS, 1) + 2
  const author = Math.max(base.perAuthor.perMinute, Math.ceil(2 * pace))
  return {
    perAuthor: { burst: Math.max(base.perAuthor.burst, Math.ceil(author / 2)), perMinute: author },
    perPeer: { burst: Math.max(base.perPeer.burst, author * 2), perMinute: Math.max(base.perPeer.perMinute, 4 * author) }
  }
}

export type LimitReason = 'peer-rate' | 'peer-flood' | 'author-rate' | 'new-author-rate'

/** How often the gate sums up what it turned away (one line, not one per message). */
const NOTE_EVERY_MS = 60_000
/** Rejections reported per peer and minute; a graylisted flooder is not worth a line per message. */
const REPORTS_PER_PEER = { burst: 5, perMinute: 5 }
/**
 * Longest stretch of gossip work between two turns of the event loop. A
 * backlog of buffered RPCs is otherwise worked off in one chain of promises,
 * and the control API, timers and other peers wait (seconds, under a flood).
 */
const YIELD_EVERY_MS = 10

export interface GossipGateInit {
  project: string
  limits?: Partial<GossipLimits>
  /** Whether this node already holds words of `author` (a known author does not draw on the new-author budget). */
  known?: (author: string) => boolean
  /** A summary line of what was turned away, at most once a minute. */
  onNote?: (message: string) => void
  /**
   * `peer` floods at more than twice its allowance (called once a minute at
   * most per peer): hang up on it, so its flood no longer costs us decryption.
   */
  onFlood?: (peer: string) => void
}

export class GossipGate {
  readonly limits: GossipLimits
  private readonly peers: TokenBuckets
  private readonly authors: TokenBuckets
  private readonly fresh: TokenBuckets
  /** Per peer, what it may send over its allowance before its excess counts as abuse. */
  private readonly strikes: TokenBuckets
  private readonly limited: Record<LimitReason, number> = { 'peer-rate': 0, 'peer-flood': 0, 'author-rate': 0, 'new-author-rate': 0 }
  private readonly total: Record<LimitReason, number> = { 'peer-rate': 0, 'peer-flood': 0, 'author-rate': 0, 'new-author-rate': 0 }
  private lastNote = 0
  private lastYield = 0
  private readonly reports: TokenBuckets
  private readonly hangUps: TokenBuckets
  private unreported = 0

  constructor (private readonly init: GossipGateInit) {
    this.limits = { ...DEFAULT_GOSSIP_LIMITS, ...init.limits }
    this.peers = new TokenBuckets(this.limits.perPeer, this.limits.maxTracked)
    this.strikes = new TokenBuckets(this.limits.perPeer, this.limits.maxTracked)
    this.authors = new TokenBuckets(this.limits.perAuthor, this.limits.maxTracked)
    this.fresh = new TokenBuckets(this.limits.newAuthors, 1)
    this.reports = new TokenBuckets(REPORTS_PER_PEER, this.limits.maxTracked)
    this.hangUps = new TokenBuckets({ burst: 1, perMinute: 1 }, this.limits.maxTracked)
  }

  /** Rate limits, then `checkGossip`. `peer` is the connection the message came over. */
  async check (peer: string, msg: GossipMessage, now = Date.now()): Promise<GossipVerdict> {
    await this.breathe()
    if (msg.type === 'signed') {
      const from = msg.from.toString()
      if (!this.peers.take(peer, now)) {
        if (this.strikes.take(peer, now)) return this.refuse('peer-rate', from, now)
        if (this.hangUps.take(peer, now)) this.init.onFlood?.(peer)
        return this.reported(peer, this.refuse('peer-flood', from, now, true), now)
      }
      const limited = this.admitAuthor(from, now)
      if (limited != null) return this.refuse(limited, from, now)
    }
    const v = await checkGossip(msg, this.init.project, now)
    return v.ok || !v.reject ? v : this.reported(peer, v, now)
  }

  private async breathe (): Promise<void> {
    if (performance.now() - this.lastYield < YIELD_EVERY_MS) return
    await new Promise(resolve => setImmediate(resolve))
    this.lastYield = performance.now()
  }

  private reported (peer: string, v: GossipVerdict & { ok: false }, now: number): GossipVerdict {
    if (this.reports.take(peer, now)) return v
    this.unreported++
    return { ...v, report: false }
  }

  /** The author limits for a message that came through sync (already decoded and verified). */
  admitSynced (m: Message, now = Date.now()): { ok: true } | { ok: false, reason: LimitReason } {
    const limited = this.admitAuthor(m.author, now)
    if (limited == null) return { ok: true }
    this.count(limited, now)
    return { ok: false, reason: limited }
  }

  /** Messages turned away since start, by limit. */
  stats (): Record<LimitReason, number> { return { ...this.total } }

  private admitAuthor (author: string, now: number): LimitReason | null {
    const isNew = this.authors.level(author, now) >= this.limits.perAuthor.burst && !(this.init.known?.(author) ?? false)
    if (isNew && !this.fresh.has('all', now)) return 'new-author-rate'
    if (!this.authors.take(author, now)) return 'author-rate'
    if (isNew) this.fresh.take('all', now)
    return null
  }

  private refuse (reason: LimitReason, from: string, now: number, reject = false): GossipVerdict & { ok: false } {
    this.count(reason, now)
    return { ok: false, reject, reason, from }
  }

  private count (reason: LimitReason, now: number): void {
    this.limited[reason]++
    this.total[reason]++
    if (now - this.lastNote < NOTE_EVERY_MS || this.init.onNote == null) return
    this.lastNote = now
    const parts = (Object.entries(this.limited) as Array<[LimitReason, number]>).filter(([, n]) => n > 0).map(([r, n]) => r === 'peer-flood' ? `${n} from peers flooding at over twice their rate (rejected)` : `${n} over the ${r.replace(/-rate$/, '')} rate`)
    if (this.unreported > 0) parts.push(`${this.unreported} more rejected from peers already reported`)
    for (const r of Object.keys(this.limited) as LimitReason[]) this.limited[r] = 0
    this.unreported = 0
    this.init.onNote(`rate limits: turned away ${parts.join(', ')}; none stored or forwarded`)
  }
}
