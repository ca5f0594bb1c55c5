/**
 * A trainer's membership in the swarm: gossip on the project topic (every
 * inbound message validated before it is stored or forwarded), the best
 * record in the DHT, sync with each new peer, fetch/sync/leaderboard served,
 * adoption by reproduction, attestations, claims and heartbeats.
 */
import { TopicValidatorResult, type Message as GossipMessage } from '@libp2p/gossipsub'
import type { Connection, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  SYNC_PROTOCOL, compareBestRecords, encodeMessage, messageId, signMessage, topicFor,
  type AttestationMsg, type BestRecord, type Message, type ResultMsg, type Unsigned
} from '../../protocol/index.ts'
import { wireHardware } from '../../trainer/hardware.ts'
import type { LoopEvent } from '../../trainer/loop.ts'
import type { ExperimentRecord } from '../../trainer/results-log.ts'
import type { Session } from '../../trainer/session.ts'
import { setTopicScoreParams, topicScoreParams, type SwarmLibp2p } from '../libp2p.ts'
import { claimedFigure, reproduced } from './adoption.ts'
import { SwarmInbox } from './adoption-inbox.ts'
import { getBestRecords, putBestIfBetter } from './dht-best.ts'
import { checkGossip } from './gossip-check.ts'
import { attestationBody, claimBody, resultBody, statusBody } from './outgoing.ts'
import { serveSwarmProtocols, syncFrom } from './protocols.ts'
import type { SwarmStore } from './store.ts'
import { TrustBook } from './trust.ts'

export const STATUS_INTERVAL_MS = 30_000
export const BEST_REFRESH_MS = 60_000
const SYNC_AGAIN_AFTER_MS = 60_000
const SYNC_OVERLAP_MS = 10 * 60_000

export type SwarmEvent =
  | { type: 'published', kind: Message['kind'] | 'best', id: string, recipients?: number }
  | { type: 'received', kind: Message['kind'], id: string, author: string }
  | { type: 'rejected', from: string, reason: string }
  | { type: 'adoption-queued', result: string, author: string, claimed: number | null }
  | { type: 'attested', result: string, author: string, ok: boolean, reason: string, measured: number | null }
  | { type: 'best', project: string, track: string, result: string, val_bpb: number | null, attestations: number, source: 'dht' | 'local' }
  | { type: 'synced', peer: string, added: number, rejected: number }
  | { type: 'trust', peer: string, score: number, distrusted: boolean }
  | { type: 'peer', peer: string, addr: string, direction: 'inbound' | 'outbound' }
  | { type: 'note', message: string }

export interface SwarmServiceInit {
  node: SwarmLibp2p
  privateKey: PrivateKey
  peerId: string
  session: Session
  store: SwarmStore
  adopt: boolean
  onEvent: (e: SwarmEvent) => void
  statusIntervalMs?: number
  bestRefreshMs?: number
  /** Aborts pending swarm work (DHT writes, syncs) when the node stops. */
  signal?: AbortSignal
}

export class SwarmService {
  readonly inbox: SwarmInbox
  readonly trust: TrustBook
  private readonly topic: string
  private readonly timers: NodeJS.Timeout[] = []
  private readonly lastSync = new Map<string, number>()
  private readonly synced = new Map<string, number>()
  private current: string | null = null
  private readonly halt = new AbortController()
  private bestChain: Promise<void> = Promise.resolve()
  /** Fires when the node stops: no DHT write or sync may hold up a shutdown. */
  private readonly signal: AbortSignal

  constructor (private readonly init: SwarmServiceInit) {
    const s = init.session
    this.topic = topicFor(s.project.id)
    this.signal = init.signal != null ? AbortSignal.any([init.signal, this.halt.signal]) : this.halt.signal
    this.trust = new TrustBook(init.peerId, s.project.manifest.noise_margin)
    for (const a of init.store.attestations()) this.trust.record(a, this.resultById(a.result))
    this.inbox = new SwarmInbox({ node: init.node, store: init.store, trust: this.trust, peerId: init.peerId, onNote: message => this.emit({ type: 'note', message }) })
  }

  private emit (e: SwarmEvent): void {
    try { this.init.onEvent(e) } catch {}
  }

  /** Records an attestation in the trust book and reports the author's new standing when it moved. */
  private weigh (a: AttestationMsg, result: ResultMsg | undefined): void {
    if (result == null) return
    const before = this.trust.score(result.author)
    this.trust.record(a, result)
    const after = this.trust.score(result.author)
    if (after === before) return
    const distrusted = this.trust.distrusted(result.author)
    this.emit({ type: 'trust', peer: result.author, score: after, distrusted })
    // A liar's record must not stay our idea of the best.
    if (distrusted) {
      for (const b of this.init.store.bestRecords()) {
        if (b.result.author === result.author) void this.init.store.dropBest(b.track).catch(() => {})
      }
    }
  }

  private resultById (id: string): ResultMsg | undefined {
    const m = this.init.store.get(id)?.msg
    return m?.kind === 'result' ? m : undefined
  }

  private get ctx (): { project: string, track: string, hardware: ReturnType<typeof wireHardware> } {
    const s = this.init.session
    return { project: s.project.id, track: s.track, hardware: wireHardware(s.hardware) }
  }

  async start (): Promise<void> {
    const { node } = this.init
    const pubsub = node.services.pubsub
    pubsub.topicValidators.set(this.topic, async (_peer, msg) => await this.validate(msg))
    try { setTopicScoreParams(pubsub, this.topic, topicScoreParams()) } catch (err: any) { this.emit({ type: 'note', message: `peer scoring for the topic is off: ${err.message}` }) }
    pubsub.subscribe(this.topic)
    await serveSwarmProtocols(node, p => p === this.init.session.project.id ? this.init.store : undefined)
    // Every link we open or accept, so an operator (or a test) can see whom this node talks to.
    const linked = (c: Connection): void => { this.emit({ type: 'peer', peer: c.remotePeer.toString(), addr: c.remoteAddr.toString(), direction: c.direction }) }
    node.addEventListener('connection:open', evt => { linked(evt.detail) })
    node.addEventListener('peer:identify', evt => {
      // Sync waits for a direct link (identify runs again on it): a relayed one is limited.
      if (evt.detail.connection.limits != null) return
      if (evt.detail.protocols.includes(SYNC_PROTOCOL)) void this.syncWith(evt.detail.peerId.toString())
    })
    // The node was started before us: links made (and peers identified) meanwhile count too.
    for (const c of node.getConnections()) linked(c)
    for (const p of node.getPeers()) {
      void node.peerStore.get(p).then(info => { if (info.protocols.includes(SYNC_PROTOCOL)) void this.syncWith(p.toString()) }, () => {})
    }
    this.every(this.init.statusIntervalMs ?? STATUS_INTERVAL_MS, () => this.publishStatus())
    this.every(this.init.bestRefreshMs ?? BEST_REFRESH_MS, () => this.refreshFromDht())
    // What the swarm knew before we came: the DHT's best and what our peers saw.
    void this.refreshFromDht().catch(err => { if (!this.signal.aborted) this.emit({ type: 'note', message: `DHT refresh failed: ${String(err?.message ?? err)}` }) })
    for (const s of this.init.store.results()) if (s.status === 'keep') this.consider(s)
  }

  private every (ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => { void fn().catch(err => { if (!this.signal.aborted) this.emit({ type: 'note', message: String(err?.message ?? err) }) }) }, ms)
    t.unref()
    this.timers.push(t)
  }

  async stop (): Promise<void> {
    this.halt.abort()
    for (const t of this.timers) clearInterval(t)
    this.init.node.services.pubsub.topicValidators.delete(this.topic)
    this.init.node.services.pubsub.unsubscribe(this.topic)
  }

  /** Gossip validator: reject what is malformed or forged (GossipSub lowers the sender's score), ignore what is stale. */
  private async validate (msg: GossipMessage): Promise<TopicValidatorResult> {
    const v = await checkGossip(msg, this.init.session.project.id)
    if (!v.ok) {
      if (v.reject) this.emit({ type: 'rejected', from: v.from, reason: v.reason })
      return v.reject ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    }
    const m = v.message
    if (m.kind === 'result' && this.trust.distrusted(m.author)) return TopicValidatorResult.Ignore
    if (!(await this.init.store.add(m))) return TopicValidatorResult.Ignore
    this.emit({ type: 'received', kind: m.kind, id: messageId(m), author: m.author })
    this.handle(m)
    return TopicValidatorResult.Accept
  }

  private handle (m: Message): void {
    if (m.kind === 'result' && m.status === 'keep') this.consider(m)
    if (m.kind === 'attestation') {
      this.weigh(m, this.resultById(m.result))
      if (m.ok) this.queueBest(m.result)
    }
  }

  private consider (r: ResultMsg): void {
    if (!this.init.adopt || r.author === this.init.peerId || r.project !== this.init.session.project.id) return
    if (this.trust.distrusted(r.author)) return
    // A peer's reproduction of what we already run is news, not a candidate.
    if (r.child === this.init.session.baseline.content) return
    if (r.track !== this.init.session.track) {
      this.emit({ type: 'note', message: `idea from track ${r.track}: ${r.description}` })
      return
    }
    this.inbox.offer(r)
    this.emit({ type: 'adoption-queued', result: messageId(r), author: r.author, claimed: claimedFigure(r) })
  }

  private async sign<T extends Unsigned<Message | BestRecord>> (body: T): Promise<any> {
    return await signMessage(body as any, this.init.privateKey)
  }

  private async publish (m: Message): Promise<void> {
    await this.init.store.add(m)
    const res = await this.init.node.services.pubsub.publish(this.topic, encodeMessage(m))
    this.emit({ type: 'published', kind: m.kind, id: messageId(m), recipients: res.recipients.length })
  }

  /** What the loop did becomes gossip: claims when experiments start, results (and attestations) when they end. */
  async onLoopEvent (e: LoopEvent): Promise<void> {
    if (this.halt.signal.aborted) return
    const s = this.init.session
    if (e.type === 'experiment-start' && e.kind === 'candidate') {
      this.current = e.description
      await this.publish(await this.sign(claimBody({ ...this.ctx, parent: s.baseline.content, description: e.description, now: Date.now(), ttlMs: s.project.manifest.timeout_s * 2000 })))
    }
    if (e.type === 'experiment-end') {
      this.current = null
      await this.onRecord(e.record, e.diff)
    }
  }

  private async onRecord (rec: ExperimentRecord, diff: string): Promise<void> {
    const body = resultBody(rec, { ...this.ctx, diff })
    if (body == null) return
    const result: ResultMsg = await this.sign(body)
    const id = messageId(result)
    if (rec.status === 'keep') await this.init.store.putContent(this.init.session.baseline.files)
    await this.publish(result)
    const origin = rec.origin as { result: string, author: string, claimed: number | null } | undefined
    if (origin != null) {
      const verdict = reproduced(origin.claimed, result.val_bpb, rec.status === 'keep', this.init.session.project.manifest.noise_margin)
      const att: AttestationMsg = await this.sign(attestationBody(rec, origin, verdict.ok, this.ctx))
      await this.publish(att)
      this.weigh(att, this.resultById(origin.result))
      this.emit({ type: 'attested', result: origin.result, author: origin.author, ok: att.ok, reason: verdict.reason, measured: att.val_bpb })
      if (att.ok) this.queueBest(origin.result)
    }
    if (rec.status === 'keep') this.queueBest(id)
  }

  /**
   * DHT writes queue here, one at a time and off the publish path: with few
   * peers a read-compare-write can take many seconds, and results must not wait.
   */
  private queueBest (resultId: string): void {
    this.bestChain = this.bestChain
      .then(async () => { await this.refreshBest(resultId) })
      .catch(err => { if (!this.signal.aborted) this.emit({ type: 'note', message: `best record: ${String(err?.message ?? err)}` }) })
  }

  private get alone (): boolean {
    return this.init.node.getPeers().length === 0
  }

  /** Builds the best record for a kept result from what we know and writes it where it ranks better. */
  private async refreshBest (resultId: string): Promise<void> {
    const r = this.resultById(resultId)
    if (r == null || r.status !== 'keep') return
    const files = await this.init.store.getContent(r.child)
    if (files == null) return
    const latest = new Map<string, AttestationMsg>()
    for (const a of this.init.store.attestations(resultId)) if (a.author !== r.author && a.child === r.child) latest.set(a.author, a)
    const attestations = [...latest.values()].sort((a, b) => Number(b.ok) - Number(a.ok)).slice(0, 32)
    const record: BestRecord = await this.sign({ v: 1, kind: 'best', project: r.project, track: r.track, result: r, content: { files }, attestations, time: Date.now() })
    // Alone there is no DHT to ask; the periodic refresh publishes it once peers come.
    const { written, best } = this.alone ? { written: false, best: record } : await putBestIfBetter(this.init.node, record, this.signal)
    await this.keepBest(best, 'local')
    if (written) this.emit({ type: 'published', kind: 'best', id: messageId(record) })
  }

  private async keepBest (best: BestRecord, source: 'dht' | 'local'): Promise<void> {
    if (this.trust.distrusted(best.result.author)) return
    const known = this.init.store.best(best.track)
    if (known != null && compareBestRecords(known, best) <= 0) return
    await this.init.store.putBest(best)
    this.emit({ type: 'best', project: best.project, track: best.track, result: messageId(best.result), val_bpb: claimedFigure(best.result), attestations: best.attestations.length, source })
  }

  /** The DHT's best for our track: its result and attestations are verified facts we may not have seen. */
  async refreshFromDht (): Promise<void> {
    const s = this.init.session
    if (this.alone) return
    // A record whose result we caught lying is no best of ours, whatever it claims.
    const records = (await getBestRecords(this.init.node, s.project.id, s.track, this.signal)).filter(r => !this.trust.distrusted(r.result.author))
    for (const rec of records.slice(0, 3)) {
      // Content before the result: once the result is stored, a sync may bring a reproduction
      // of it that must not be queued ahead of it while we write.
      await this.init.store.putContent(rec.content.files)
      const fresh = await this.init.store.add(rec.result)
      for (const a of rec.attestations) if (await this.init.store.add(a)) this.weigh(a, rec.result)
      if (fresh) this.consider(rec.result)
    }
    if (records[0] != null) await this.keepBest(records[0], 'dht')
    // Ours ranks better than what the swarm holds (made while alone, or the DHT lost it): publish it.
    const mine = this.init.store.best(s.track)
    if (mine != null && (records[0] == null || compareBestRecords(mine, records[0]) < 0)) {
      const { written } = await putBestIfBetter(this.init.node, mine, this.signal)
      if (written) this.emit({ type: 'published', kind: 'best', id: messageId(mine) })
    }
  }

  private async syncWith (peer: string): Promise<void> {
    const now = Date.now()
    if (now - (this.lastSync.get(peer) ?? 0) < SYNC_AGAIN_AFTER_MS) return
    this.lastSync.set(peer, now)
    try {
      // Overlap the last sync generously: clocks differ and dedup is cheap.
      const since = Math.max(0, (this.synced.get(peer) ?? 0) - SYNC_OVERLAP_MS)
      const res = await syncFrom(this.init.node, peerIdFromString(peer), this.init.session.project.id, since, async m => {
        if (!(await this.init.store.add(m))) return false
        this.handle(m)
        return true
      }, this.signal)
      this.synced.set(peer, now)
      if (res.added > 0 || res.rejected > 0) this.emit({ type: 'synced', peer, added: res.added, rejected: res.rejected })
    } catch (err: any) {
      if (err?.code !== 'not-found') this.emit({ type: 'note', message: `sync with ${peer.slice(-8)} failed: ${err.message}` })
    }
  }

  private async publishStatus (): Promise<void> {
    const s = this.init.session
    await this.publish(await this.sign(statusBody({
      ...this.ctx, experiment: this.current, best: s.baseline.value, experiments: s.history.length,
      kept: s.history.filter(r => r.status === 'keep').length, peers: this.init.node.getPeers().length, now: Date.now()
    })))
  }
}
