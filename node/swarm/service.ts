/**
 * A trainer's membership in the swarm, put together from components in
 * js-libp2p's style (each `factory(init)(components)`, each with start/stop
 * that undo everything start did):
 *
 * - `ResultsTopic`   gossip on the project topic, every message checked before it is stored or forwarded
 * - `SwarmProtocols` fetch, sync and leaderboard served
 * - `SyncScheduler`  catching up with each newly identified peer
 * - `BestKeeper`     our best record and the DHT's, by this node's own evidence
 * - `Heartbeat`      a status message every 30 s
 * - `SwarmInbox`     results to adopt, reproduce or stack, their content prefetched with deadlines
 * - `TriedView`      what trusted peers ran or are running, so peers split the search
 *
 * The service itself holds the policy that joins them: the trust book
 * (trust.ts) learns every stored result and attestation, and what the loop
 * did becomes signed gossip. It never reads the loop's session: it starts
 * from a snapshot and follows the loop's events.
 *
 * @example
 * ```ts
 * const service = swarmService({ privateKey, peerId, project, track, hardware, store, adopt: true, initial, onEvent })(swarmComponents(node))
 * await service.start()
 * loopEvents.on(e => service.onLoopEvent(e))
 * await service.stop()
 * ```
 */
import type { Connection, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  PROTOCOL_VERSION, claimedFigure, compareRanked, figureOf, messageId, signMessage,
  type AttestationMsg, type BestRecord, type Hardware, type Message, type Rankable, type ResultMsg, type Unsigned
} from '../../protocol/index.ts'
import { BASELINE_STATUSES } from '../../trainer/adopted.ts'
import type { AdoptionSnapshot, LoopEvent } from '../../trainer/loop.ts'
import type { ExperimentRecord } from '../../trainer/results-log.ts'
import { reproductionVerdict } from './adoption.ts'
import { swarmInbox, type InboxEvent, type SwarmInbox } from './adoption-inbox.ts'
import { bestKeeper, type BestEvent, type BestKeeper } from './best-keeper.ts'
import { connectedPeers, type Component, type SwarmComponents } from './components.ts'
import { GossipGate, type GossipLimits } from './gossip-check.ts'
import { BEST_RECORD_ATTESTATIONS } from './constants.ts'
import { heartbeat, type Heartbeat } from './heartbeat.ts'
import { computeLeaderboard, type LeaderboardQuery, type LeaderboardRow } from './leaderboard.ts'
import { attestationBody, claimBody, resultBody, statusBody } from './outgoing.ts'
import { swarmProtocols, type SwarmProtocols } from './protocols.ts'
import { resultsTopic, type ResultsTopic } from './results-topic.ts'
import type { SwarmStore } from './store.ts'
import { syncScheduler, type SyncEvent, type SyncScheduler } from './sync-scheduler.ts'
import { TriedView } from './tried-view.ts'
import { TrustBook } from './trust.ts'

export { BEST_REFRESH_MS, STATUS_INTERVAL_MS } from './constants.ts'

export type SwarmEvent =
  | { type: 'published', kind: Message['kind'] | 'best', id: string, recipients?: number }
  | { type: 'received', kind: Message['kind'], id: string, author: string }
  | { type: 'rejected', from: string, reason: string }
  | { type: 'adoption-queued', result: string, author: string, claimed: number | null }
  | { type: 'attested', result: string, author: string, ok: boolean, reason: string, measured: number | null }
  | { type: 'trust', peer: string, score: number, distrusted: boolean }
  | { type: 'peer', peer: string, addr: string, direction: 'inbound' | 'outbound' }
  | BestEvent
  | SyncEvent
  | InboxEvent

export interface SwarmServiceInit {
  privateKey: PrivateKey
  peerId: string
  project: {
    id: string
    /** The manifest's noise margin (the margin in force follows the loop: its records carry it). */
    margin: number
    /** The manifest's hard timeout: a claim lasts twice as long. */
    timeoutS: number
    editable: string[]
  }
  track: string
  /** As it goes on the wire. */
  hardware: Hardware
  store: SwarmStore
  /** Run peers' code (reproductions); false: results are still shared and received. */
  adopt: boolean
  /** A private swarm: its members are trusted attesters. */
  privateSwarm?: boolean
  /** The loop when the node joined: its baseline, what it tried, how many experiments and keeps, the margin in force. */
  initial: AdoptionSnapshot & { kept: number }
  onEvent: (e: SwarmEvent) => void
  statusIntervalMs?: number
  bestRefreshMs?: number
  /** Aborts pending swarm work (DHT writes, syncs) when the node stops. */
  signal?: AbortSignal
  /** Rate limits on gossip and sync (defaults in gossip-check.ts). */
  gossipLimits?: Partial<GossipLimits>
}

export class SwarmService implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/service'
  readonly trust: TrustBook
  readonly inbox: SwarmInbox
  readonly tried: TriedView
  /** Rate limits in front of every message that arrives, by gossip or sync. */
  readonly gate: GossipGate
  private readonly topic: ResultsTopic
  private readonly protocols: SwarmProtocols
  private readonly sync: SyncScheduler
  private readonly keeper: BestKeeper
  private readonly heartbeat: Heartbeat
  /** What the loop is at, followed from its events. */
  private readonly loop: { baselineContent: string, baselineValue: number | null, experiments: number, kept: number, current: string | null, margin: number }
  private readonly reported = new Map<string, number>()
  private started = false

  constructor (private readonly components: SwarmComponents, private readonly init: SwarmServiceInit) {
    const { store, project } = init
    this.loop = { baselineContent: init.initial.baseline.content, baselineValue: init.initial.baseline.value, experiments: init.initial.experiments, kept: init.initial.kept, current: null, margin: init.initial.margin }
    // The claim rule's tolerance follows the margin in force: measured at the first baseline, carried by every record.
    this.trust = new TrustBook({ self: init.peerId, margin: () => this.loop.margin, privateSwarm: init.privateSwarm })
    this.tried = new TriedView({ self: init.peerId, trust: this.trust, claims: () => store.claims(), content: async hash => await store.getContent(hash) })
    // The trust book whole before the tried view: it asks who is trusted as each run goes in.
    const results = store.results()
    for (const m of results) this.trust.add(m)
    for (const m of store.attestations()) this.trust.add(m)
    for (const m of results) this.tried.add(m)
    store.onAgedOut(gone => { this.trust.forget(gone) })
    for (const [peer, score] of this.trust.entries()) this.reported.set(peer, score)
    const emit = (e: SwarmEvent): void => { this.emit(e) }
    this.gate = new GossipGate({
      project: project.id,
      limits: init.gossipLimits,
      known: author => store.knows(author),
      onNote: message => { emit({ type: 'note', message }) },
      onFlood: peer => { void components.connectionManager.closeConnections(peerIdFromString(peer)).catch(() => {}) }
    })
    this.inbox = swarmInbox({
      project: project.id, track: init.track, self: init.peerId, editable: project.editable, noiseMargin: project.margin, store, trust: this.trust, tried: this.tried,
      initial: init.initial,
      onEvent: e => {
        emit(e)
        if (e.type === 'adoption-dropped') this.moved([e.author])
      }
    })(components)
    this.topic = resultsTopic({
      project: project.id,
      gate: this.gate,
      accept: async m => await this.accept(m, true),
      onRejected: (from, reason) => { emit({ type: 'rejected', from, reason }) },
      onNote: message => { emit({ type: 'note', message }) }
    })(components)
    this.protocols = swarmProtocols({
      stores: p => p === project.id ? store : undefined,
      board: (_p, q) => this.board({ track: q.track, limit: q.limit })
    })(components)
    this.sync = syncScheduler({ project: project.id, accept: async m => this.gate.admitSynced(m).ok && await this.accept(m, false), onEvent: emit, signal: init.signal })(components)
    this.keeper = bestKeeper({
      project: project.id,
      track: init.track,
      store,
      compare: (a, b) => compareRanked(this.rankable(a.result), this.rankable(b.result)),
      evidence: rec => this.trust.evidence(rec.result),
      accepts: rec => this.acceptsRecord(rec),
      learn: async rec => { await this.learn(rec) },
      build: async id => await this.buildRecord(id),
      top: () => this.board({ track: init.track, limit: 1 })[0]?.result,
      onEvent: emit,
      refreshMs: init.bestRefreshMs,
      signal: init.signal
    })(components)
    this.heartbeat = heartbeat({ beat: async () => { await this.publishStatus() }, onError: err => { emit({ type: 'note', message: `heartbeat: ${err.message}` }) }, intervalMs: init.statusIntervalMs })(components)
  }

  isStarted (): boolean { return this.started }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.protocols.start()
    this.topic.start()
    // Every link we open or accept, so an operator (or a test) can see whom this node talks to.
    this.components.events.addEventListener('connection:open', this.onConnection)
    for (const c of this.components.connectionManager.getConnections()) this.linked(c)
    this.sync.start()
    this.heartbeat.start()
    this.keeper.start()
    this.inbox.start()
    for (const r of this.init.store.results()) if (r.status === 'keep') this.consider(r)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.inbox.stop()
    this.heartbeat.stop()
    this.sync.stop()
    this.components.events.removeEventListener('connection:open', this.onConnection)
    this.topic.stop()
    await this.protocols.stop()
    await this.keeper.stop()
  }

  /** This node's leaderboard of its project, by its own evidence. */
  board (q: LeaderboardQuery = {}): LeaderboardRow[] {
    const { store } = this.init
    return computeLeaderboard({ results: store.results(), trust: this.trust, seenAt: id => store.seenAt(id) }, { ...q, project: this.init.project.id })
  }

  /**
   * Whether this node keeps a best record at all (the DHT validator asks too):
   * not when its author, or a peer vouching for it, was caught lying.
   */
  acceptsRecord (rec: BestRecord): boolean {
    return !this.trust.distrusted(rec.result.author) && !rec.attestations.some(a => a.ok && this.trust.distrusted(a.author))
  }

  private emit (e: SwarmEvent): void {
    try { this.init.onEvent(e) } catch {}
  }

  private readonly onConnection = (evt: CustomEvent<Connection>): void => { this.linked(evt.detail) }

  private linked (c: Connection): void {
    this.emit({ type: 'peer', peer: c.remotePeer.toString(), addr: c.remoteAddr.toString(), direction: c.direction })
  }

  private rankable (r: ResultMsg): Rankable {
    const id = messageId(r)
    return { evidence: this.trust.evidence(r), time: Math.min(r.time, this.init.store.seenAt(id) ?? r.time), id }
  }

  /**
   * A verified message from gossip or sync: nothing from a peer caught lying
   * is stored or forwarded; the rest is stored (a duplicate is dropped) and
   * acted on. True: new, forward it.
   */
  private async accept (m: Message, gossip: boolean): Promise<boolean> {
    if (this.trust.distrusted(m.author)) return false
    if (!(await this.init.store.add(m))) return false
    if (gossip) this.emit({ type: 'received', kind: m.kind, id: messageId(m), author: m.author })
    this.handle(m)
    return true
  }

  private handle (m: Message): void {
    if (m.kind !== 'result' && m.kind !== 'attestation') return
    this.moved(this.trust.add(m))
    if (m.kind === 'result') this.tried.add(m)
    if (m.kind === 'result' && m.status === 'keep') this.consider(m)
    // A reproduction this node believes may lift a result to our best.
    if (m.kind === 'attestation' && m.ok && m.track === this.init.track && this.trust.attesterWeight(m.author) > 0) this.keeper.offer(m.result)
  }

  /** Authors whose standing may have moved: report changes, drop a liar's best, let the inbox look again. */
  private moved (authors: string[]): void {
    let distrusted = false
    for (const peer of new Set(authors)) {
      const score = this.trust.score(peer)
      if (this.reported.get(peer) === score) continue
      this.reported.set(peer, score)
      const d = this.trust.distrusted(peer)
      distrusted ||= d
      this.emit({ type: 'trust', peer, score, distrusted: d })
    }
    if (distrusted) this.keeper.reconsider()
    if (authors.length > 0) this.inbox.wake()
  }

  /** A keep (a peer's, or ours for stacking later): the inbox screens it by the adoption policy and queues what may be worth it. */
  private consider (r: ResultMsg): void {
    if (!this.init.adopt) return
    const d = this.inbox.offer(r)
    if (r.author === this.init.peerId) return
    if (d == null) this.emit({ type: 'adoption-queued', result: messageId(r), author: r.author, claimed: claimedFigure(r) })
    else if (d.action === 'idea') this.emit({ type: 'note', message: `idea from track ${r.track}: ${r.description}` })
  }

  /** A DHT record this node accepts: its content, result and attestations are facts we may not have seen. */
  private async learn (rec: BestRecord): Promise<void> {
    const { store } = this.init
    // Content before the result: once the result is known, the inbox may want it at once.
    await store.putContent(rec.content.files)
    for (const m of [rec.result, ...rec.attestations]) {
      if (this.trust.distrusted(m.author)) continue
      if (await store.add(m)) this.handle(m)
    }
  }

  /** Our record for a kept result on our track, with the attestations this node believes first. */
  private async buildRecord (resultId: string): Promise<BestRecord | null> {
    const { store } = this.init
    const r = store.get(resultId)?.msg
    if (r?.kind !== 'result' || r.status !== 'keep' || r.track !== this.init.track || this.trust.distrusted(r.author)) return null
    const files = await store.getContent(r.child)
    if (files == null) return null
    const latest = new Map<string, AttestationMsg>()
    for (const a of store.attestations(resultId)) {
      if (a.author !== r.author && a.child === r.child && !this.trust.distrusted(a.author)) latest.set(a.author, a)
    }
    const weight = (a: AttestationMsg): number => a.author === this.init.peerId ? 2 : this.trust.attesterWeight(a.author)
    const attestations = [...latest.values()].sort((a, b) => Number(b.ok) - Number(a.ok) || weight(b) - weight(a)).slice(0, BEST_RECORD_ATTESTATIONS)
    return await this.sign({ v: PROTOCOL_VERSION, kind: 'best', project: r.project, track: r.track, result: r, content: { files }, attestations, time: Date.now() })
  }

  private async sign<T extends Unsigned<Message | BestRecord>> (body: T): Promise<any> {
    return await signMessage(body as any, this.init.privateKey)
  }

  private async publish (m: Message): Promise<void> {
    await this.init.store.add(m)
    if (m.kind === 'result' || m.kind === 'attestation') this.moved(this.trust.add(m))
    if (m.kind === 'result') this.tried.add(m)
    const recipients = await this.topic.publish(m)
    this.emit({ type: 'published', kind: m.kind, id: messageId(m), recipients })
  }

  private get ctx (): { project: string, track: string, hardware: Hardware } {
    return { project: this.init.project.id, track: this.init.track, hardware: this.init.hardware }
  }

  /** What the loop did becomes gossip: claims when experiments start, results (and attestations) when they end. */
  async onLoopEvent (e: LoopEvent): Promise<void> {
    if (!this.started) return
    if (e.type === 'experiment-start' && e.kind === 'candidate') {
      this.loop.current = e.description
      // The claim names the content it runs: trusted peers skip it meanwhile (one reproduction for the swarm, no twin experiments).
      await this.publish(await this.sign(claimBody({ ...this.ctx, parent: this.loop.baselineContent, child: e.child, description: e.description, now: Date.now(), ttlMs: this.init.project.timeoutS * 2000 })))
    }
    if (e.type === 'experiment-end') {
      const rec = e.record
      this.loop.current = null
      this.loop.experiments++
      if (rec.status === 'keep') this.loop.kept++
      if (BASELINE_STATUSES.has(rec.status) && rec.child != null) this.loop.baselineContent = rec.child
      this.loop.baselineValue = e.baselineAfter
      if (typeof rec.margin === 'number' && rec.margin > 0) this.loop.margin = rec.margin
      await this.onRecord(rec, e.diff, e.files)
    }
  }

  private async onRecord (rec: ExperimentRecord, diff: string, files: Record<string, string>): Promise<void> {
    const { store } = this.init
    // Every baseline's content stays here: peers fetch what we run, and a change made on it can be stacked later.
    if (BASELINE_STATUSES.has(rec.status)) await store.putContent(files)
    const how = rec.origin?.how ?? (rec.origin != null ? 'reproduce' : null)
    // A re-measure of our own baseline is not an experiment on the wire: its attestation says what it found.
    const body = how === 'verify' ? null : resultBody(rec, { ...this.ctx, diff })
    let id: string | null = null
    if (body != null) {
      const result: ResultMsg = await this.sign(body)
      id = messageId(result)
      await this.publish(result)
      if (result.status === 'keep') this.consider(result)
    }
    const origin = rec.origin
    // Attest what we measured of a peer's content itself: a reproduction, or a re-measure after its use landed far off.
    if (origin != null && (how === 'reproduce' || how === 'verify')) {
      const measured = figureOf(rec)
      const verdict = reproductionVerdict(origin.claimed, measured, rec.status === 'keep', rec.margin ?? this.loop.margin)
      const att: AttestationMsg = await this.sign(attestationBody(rec, origin, verdict.ok, this.ctx))
      await this.publish(att)
      this.inbox.settled(origin.result)
      this.emit({ type: 'attested', result: origin.result, author: origin.author, ok: att.ok, reason: verdict.reason, measured: att.val_bpb })
      if (att.ok) this.keeper.offer(origin.result)
    }
    if (rec.status === 'keep' && id != null) this.keeper.offer(id)
  }

  private async publishStatus (): Promise<void> {
    const l = this.loop
    await this.publish(await this.sign(statusBody({
      ...this.ctx, experiment: l.current, best: l.baselineValue, experiments: l.experiments, kept: l.kept,
      peers: connectedPeers(this.components).length, now: Date.now()
    })))
  }
}

export function swarmService (init: SwarmServiceInit): (components: SwarmComponents) => SwarmService {
  return components => new SwarmService(components, init)
}
