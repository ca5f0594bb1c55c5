/**
 * Whom this node believes, and what a result's evidence is here: the one
 * module that owns trust (pure policy; everything else asks it). Derived from
 * the signed results and attestations in the store, so it survives restarts
 * with the store, plus this node's own in-memory observations (content that
 * nobody served).
 *
 * The rules (README, "Trust and its threat model"):
 * - This node believes its own measurements first. Its own attestation of a
 *   claim is judged by the claim rule (adoption.ts): far worse than claimed is
 *   a lie (OWN_LIE), and so is attesting such a claim as reproduced. A claim it
 *   reproduced and kept (a real improvement of its baseline) earns OWN_OK.
 * - Other peers' attestations count only when their attester has earned it
 *   the same way (claims of theirs that this node kept), weighted and capped
 *   per attester; unknown keys weigh nothing, however many there are.
 * - Third parties can mark a result disputed and move an author this node has
 *   not verified, but never push an author it has verified below neutral.
 * - GossipSub's application score is `ownScore`: only what this node saw.
 */
import { claimedFigure, median, messageId, type AttestationMsg, type Evidence, type ResultMsg } from '../../protocol/index.ts'
import { claimHolds } from './adoption.ts'
import type { AgedOut } from './store.ts'
import {
  ATTESTER_WEIGHT_CAP, ATTESTER_WEIGHT_PER_KEEP, DISTRUST_BELOW, MEMBER_WEIGHT, OTHERS_LIE, OTHERS_OK, OWN_LIE, OWN_OK,
  OWN_OK_MAX, REPRODUCED_MIN_WEIGHT, THIRD_PARTY_MAX, UNSERVED
} from './constants.ts'

export interface TrustInit {
  /** This node's peer id: its attestations and results are its own measurements. */
  self: string
  /**
   * The noise margin in force (the claim rule's tolerance grows with it): a
   * number, or a getter, since it changes once the first baseline measured
   * the noise (trainer/noise.ts).
   */
  margin: number | (() => number)
  /** A private swarm: every member is a trusted attester (MEMBER_WEIGHT). */
  privateSwarm?: boolean
  /**
   * Another book whose judgement of peers carries over (a running node's own
   * project when it ranks another project's results for an asker).
   */
  known?: Pick<TrustBook, 'attesterWeight' | 'distrusted'>
}

/** What a row of results of one content has here, beyond the rank rule's Evidence. */
export interface ContentEvidence extends Evidence {
  /** Distinct peers (author aside) that attested it ok, trusted or not: shown, not believed. */
  attesters: number
}

type Standing = 'distrusted' | 'verified' | 'unknown'

interface Own {
  /** Authors' results whose claims we reproduced and kept (result ids). */
  kept: Set<string>
  /** Lies we caught: the author's results, or results the peer vouched for (result ids). */
  lies: Set<string>
  unserved: number
}

export class TrustBook {
  private readonly self: string
  private readonly marginOf: () => number
  private readonly privateSwarm: boolean
  private readonly known: TrustInit['known']
  private readonly results = new Map<string, ResultMsg>()
  private readonly resultsByAuthor = new Map<string, Set<string>>()
  private readonly keepsByChild = new Map<string, Set<string>>()
  /** result id -> attester -> its latest attestation of that result. */
  private readonly attestations = new Map<string, Map<string, AttestationMsg>>()
  private readonly own = new Map<string, Own>()
  /** Our own verdict per attested result id: did the claim hold. */
  private readonly verdicts = new Map<string, boolean>()
  /** Contents we kept (our own keep results). */
  private readonly keptContent = new Set<string>()
  /** Bumped whenever a score may change; scores are cached per version (and margin: third parties' reports are judged with it). */
  private version = 0
  private readonly cache = new Map<string, { version: number, margin: number, score: number }>()

  constructor (init: TrustInit) {
    this.self = init.self
    const m = init.margin
    this.marginOf = typeof m === 'number' ? () => m : m
    this.privateSwarm = init.privateSwarm === true
    this.known = init.known
  }

  /** The margin the claim rule uses now. */
  get margin (): number { return this.marginOf() }

  // --- what the node learns ---------------------------------------------------

  /**
   * Takes in a stored result or attestation (in any order: verdicts are
   * re-judged when the other half arrives). Returns the authors whose
   * standing may have changed.
   */
  add (m: ResultMsg | AttestationMsg): string[] {
    return m.kind === 'result' ? this.addResult(m) : this.addAttestation(m)
  }

  /**
   * Forgets results and attestations the store aged out, so memory follows
   * the store's quotas and a restart (which reads the store) sees the same
   * scores. What this node measured itself (its verdicts, who it caught
   * lying or found right) stays.
   */
  forget (gone: readonly AgedOut[]): void {
    for (const m of gone) {
      if (m.kind === 'result') {
        const r = this.results.get(m.id)
        if (r == null) continue
        this.results.delete(m.id)
        dropFrom(this.resultsByAuthor, r.author, m.id)
        if (r.status === 'keep') dropFrom(this.keepsByChild, r.child, m.id)
        this.attestations.delete(m.id)
        this.version++
        continue
      }
      // Only the attester's latest attestation of a result is held: the aged-out one if its time says so.
      const byAttester = m.result == null ? undefined : this.attestations.get(m.result)
      if (byAttester?.get(m.author)?.time !== m.time) continue
      byAttester.delete(m.author)
      if (byAttester.size === 0) this.attestations.delete(m.result!)
      this.version++
    }
  }

  /** A claim of `author` whose content no peer served within the deadline. */
  unserved (author: string): void {
    this.ownOf(author).unserved++
    this.version++
  }

  private addResult (r: ResultMsg): string[] {
    const id = messageId(r)
    if (this.results.has(id)) return []
    this.results.set(id, r)
    setOf(this.resultsByAuthor, r.author).add(id)
    if (r.status === 'keep') setOf(this.keepsByChild, r.child).add(id)
    const changed: string[] = []
    // Attestations that came before their result now count towards its author.
    if ([...this.attestations.get(id)?.keys() ?? []].some(p => p !== this.self && this.attesterWeight(p) > 0)) {
      this.version++
      changed.push(r.author)
    }
    if (r.author === this.self && r.status === 'keep') {
      this.keptContent.add(r.child)
      // Our keep of content we attested: those claims delivered.
      for (const other of this.keepsByChild.get(r.child) ?? []) changed.push(...this.judge(other))
    }
    // Our verdict on this result may have come first.
    changed.push(...this.judge(id))
    return changed
  }

  private addAttestation (a: AttestationMsg): string[] {
    const byAttester = this.attestations.get(a.result) ?? new Map<string, AttestationMsg>()
    this.attestations.set(a.result, byAttester)
    const prev = byAttester.get(a.author)
    if (prev != null && prev.time >= a.time) return []
    byAttester.set(a.author, a)
    if (a.author === this.self) return this.judge(a.result)
    const result = this.results.get(a.result)
    const changed: string[] = []
    // Vouching for a claim we caught lying makes the attester an accomplice.
    if (a.ok && this.verdicts.get(a.result) === false && result != null && a.author !== result.author) {
      if (this.mark(a.author, 'lies', a.result)) changed.push(a.author)
    }
    // Only an attester we trust can move anyone's score.
    if (this.attesterWeight(a.author) > 0 && result != null) {
      this.version++
      changed.push(result.author)
    }
    return changed
  }

  /** Our verdict on result `id`, once both it and our attestation of it are known. */
  private judge (id: string): string[] {
    const result = this.results.get(id)
    const mine = this.attestations.get(id)?.get(this.self)
    if (result == null || mine == null || result.author === this.self) return []
    const holds = claimHolds(claimedFigure(result), claimedFigure(mine), this.margin)
    this.verdicts.set(id, holds)
    const changed: string[] = []
    if (!holds) {
      if (this.mark(result.author, 'lies', id)) changed.push(result.author)
      for (const [attester, a] of this.attestations.get(id) ?? []) {
        if (a.ok && attester !== this.self && attester !== result.author && this.mark(attester, 'lies', id)) changed.push(attester)
      }
    } else if (this.keptContent.has(result.child)) {
      if (this.mark(result.author, 'kept', id)) changed.push(result.author)
    }
    return changed
  }

  private mark (peer: string, what: 'kept' | 'lies', id: string): boolean {
    const set = this.ownOf(peer)[what]
    if (set.has(id)) return false
    set.add(id)
    this.version++
    return true
  }

  private ownOf (peer: string): Own {
    let o = this.own.get(peer)
    if (o == null) this.own.set(peer, o = { kept: new Set(), lies: new Set(), unserved: 0 })
    return o
  }

  // --- what everyone else asks ----------------------------------------------------

  /** What this node itself saw of `peer`: the only trust that reaches GossipSub. */
  ownScore (peer: string): number {
    const o = this.own.get(peer)
    if (o == null) return 0
    return Math.min(o.kept.size, OWN_OK_MAX) * OWN_OK - o.lies.size * OWN_LIE - o.unserved * UNSERVED
  }

  /** Own score plus trusted attesters' reports, with a floor of 0 for an author we verified. */
  score (peer: string): number {
    if (peer === this.self) return 0
    const hit = this.cache.get(peer)
    const margin = this.margin
    if (hit?.version === this.version && hit.margin === margin) return hit.score
    let score = this.ownScore(peer) + this.thirdParty(peer)
    if (this.standingOwn(peer) === 'verified') score = Math.max(score, 0)
    this.cache.set(peer, { version: this.version, margin, score })
    return score
  }

  distrusted (peer: string): boolean {
    return peer !== this.self && (this.score(peer) < DISTRUST_BELOW || this.known?.distrusted(peer) === true)
  }

  standing (peer: string): Standing {
    if (this.distrusted(peer)) return 'distrusted'
    return this.standingOwn(peer)
  }

  private standingOwn (peer: string): Standing {
    const o = this.own.get(peer)
    if (o == null) return 'unknown'
    if (o.lies.size > 0) return 'distrusted'
    return o.kept.size > 0 ? 'verified' : 'unknown'
  }

  /**
   * How much `peer`'s attestations weigh here: earned by claims of theirs this
   * node kept (capped), or by membership in a private swarm; nothing for a
   * peer caught lying or vouching for a lie, nothing for an unknown key.
   */
  attesterWeight (peer: string): number {
    if (peer === this.self) return ATTESTER_WEIGHT_CAP
    const o = this.own.get(peer)
    if (o != null && (o.lies.size > 0 || this.ownScore(peer) < DISTRUST_BELOW)) return 0
    if (this.known?.distrusted(peer) === true) return 0
    const earned = Math.min(ATTESTER_WEIGHT_CAP, (o?.kept.size ?? 0) * ATTESTER_WEIGHT_PER_KEEP)
    return Math.max(earned, this.privateSwarm ? MEMBER_WEIGHT : 0, this.known?.attesterWeight(peer) ?? 0)
  }

  /** A member of this node's private swarm (a holder of its key), not caught lying: its confirmed keep is evidence. */
  member (peer: string): boolean {
    return this.privateSwarm && peer !== this.self && !this.distrusted(peer) && this.attesterWeight(peer) > 0
  }

  /** Peers (this node included) that attested result `id` reproduced. */
  attestedBy (id: string): string[] {
    return [...(this.attestations.get(id) ?? [])].filter(([, a]) => a.ok).map(([p]) => p)
  }

  /** Every peer this node has an opinion of, with its score. */
  entries (): Array<[string, number]> {
    const peers = new Set<string>(this.own.keys())
    for (const ids of this.attestations.values()) for (const attester of ids.keys()) if (this.attesterWeight(attester) > 0) peers.add(attester)
    peers.delete(this.self)
    return [...peers].map(p => [p, this.score(p)])
  }

  private thirdParty (author: string): number {
    let plus = 0
    let minus = 0
    for (const id of this.resultsByAuthor.get(author) ?? []) {
      const result = this.results.get(id)!
      for (const [attester, a] of this.attestations.get(id) ?? []) {
        if (attester === this.self || attester === author) continue
        const w = this.attesterWeight(attester)
        if (w === 0) continue
        if (a.ok) plus += w * OTHERS_OK
        else if (!claimHolds(claimedFigure(result), claimedFigure(a), this.margin)) minus += w * OTHERS_LIE
      }
    }
    return Math.min(plus, THIRD_PARTY_MAX) - minus
  }

  /**
   * The evidence for a content (`child`) whose row `holder` holds, as this node
   * sees it: our own measurement of it (verified), else trusted peers'
   * reproductions, as attestations or as their own keeps of it (reproduced),
   * else the holder's claim. Failures count from trusted attesters only.
   */
  evidence (holder: ResultMsg): ContentEvidence {
    const ids = [...(this.keepsByChild.get(holder.child) ?? [])]
    if (!ids.includes(messageId(holder))) ids.push(messageId(holder))
    const okBy = new Map<string, number>()
    const trusted = new Map<string, number>()
    const failedBy = new Set<string>()
    let ownFigure: number | null = null
    for (const id of ids) {
      const r = this.results.get(id) ?? holder
      if (r.author === this.self) ownFigure ??= claimedFigure(r)
      else if (r.author !== holder.author && r.status === 'keep') this.count(r.author, claimedFigure(r), trusted)
      for (const [attester, a] of this.attestations.get(id) ?? []) {
        if (attester === holder.author) continue
        const figure = claimedFigure(a)
        if (attester === this.self) {
          if (figure != null) ownFigure ??= figure
          if (!claimHolds(claimedFigure(r), figure, this.margin)) failedBy.add(attester)
          continue
        }
        if (a.ok && figure != null) {
          okBy.set(attester, figure)
          this.count(attester, figure, trusted)
        } else if (!a.ok && this.attesterWeight(attester) > 0 && !claimHolds(claimedFigure(r), figure, this.margin)) {
          failedBy.add(attester)
        }
      }
    }
    const attesters = okBy.size
    const failed = failedBy.size
    if (this.distrusted(holder.author)) return { kind: 'distrusted', figure: claimedFigure(holder), reproducers: trusted.size, failed, attesters }
    if (ownFigure != null) return { kind: 'verified', figure: ownFigure, reproducers: trusted.size, failed, attesters }
    const weight = [...trusted.keys()].reduce((s, p) => s + this.attesterWeight(p), 0)
    if (trusted.size > 0 && weight >= REPRODUCED_MIN_WEIGHT) {
      return { kind: 'reproduced', figure: median([...trusted.values()]), reproducers: trusted.size, failed, attesters }
    }
    return { kind: 'claimed', figure: claimedFigure(holder), reproducers: 0, failed, attesters }
  }

  private count (peer: string, figure: number | null, into: Map<string, number>): void {
    if (figure == null || into.has(peer) || this.attesterWeight(peer) === 0 || this.distrusted(peer)) return
    into.set(peer, figure)
  }
}

function dropFrom<K, V> (map: Map<K, Set<V>>, key: K, value: V): void {
  const s = map.get(key)
  if (s == null) return
  s.delete(value)
  if (s.size === 0) map.delete(key)
}

function setOf<K, V> (map: Map<K, Set<V>>, key: K): Set<V> {
  let s = map.get(key)
  if (s == null) map.set(key, s = new Set())
  return s
}
