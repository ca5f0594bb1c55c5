/**
 * The best record of our track: which one this node holds as its best, and
 * what it writes to the DHT. The DHT's choice is a hint (its selector can
 * only read a record's own attestations, and attester keys are free), so
 * every decision here uses this node's own evidence (`compare`, `accepts`):
 * a record this node does not accept never becomes its best, and where its
 * own best ranks better here than what the DHT holds, it overwrites it.
 * Writes queue one at a time, off the publish path: with few peers a DHT
 * round trip takes seconds, and results must not wait. A busy swarm keeps
 * every few seconds, and each DHT round (read the closest peers' records,
 * validate every signature in them, write ours back) costs every peer CPU,
 * so rounds are throttled: the first offer goes at once, later ones within
 * BEST_ROUND_GAP_MS fold into one round at its end. The record is a hint for
 * newcomers; live peers learn every keep by gossip.
 */
import type { Logger } from '@libp2p/interface'
import { messageId, type BestRecord, type Evidence } from '../../protocol/index.ts'
import type { Component, SwarmComponents } from './components.ts'
import { connectedPeers } from './components.ts'
import { BEST_REFRESH_MS, BEST_ROUND_GAP_MS } from './constants.ts'
import { getBestRecords, putBestRecord } from './dht-best.ts'
import type { SwarmStore } from './store.ts'

export type BestEvent =
  | { type: 'best', project: string, track: string, result: string, val_bpb: number | null, evidence: Evidence['kind'], attestations: number, source: 'dht' | 'local' }
  | { type: 'published', kind: 'best', id: string }
  | { type: 'note', message: string }

export interface BestKeeperInit {
  project: string
  track: string
  store: SwarmStore
  /** This node's order of records (negative: `a` is better), by its own evidence. */
  compare: (a: BestRecord, b: BestRecord) => number
  /** This node's evidence for a record's content. */
  evidence: (record: BestRecord) => Evidence
  /** False for a record of, or vouched for by, a peer caught lying. */
  accepts: (record: BestRecord) => boolean
  /** A record read from the DHT: its result, attestations and content may be news here. */
  learn: (record: BestRecord) => Promise<void>
  /** Our record for a kept result we hold the content of, or null. */
  build: (resultId: string) => Promise<BestRecord | null>
  /** The result this node ranks first now (to fall back on when its best is dropped). */
  top?: () => string | undefined
  onEvent: (e: BestEvent) => void
  refreshMs?: number
  /** Least time between two DHT rounds started by offers (default: the lesser of BEST_ROUND_GAP_MS and refreshMs). */
  roundGapMs?: number
  /** Aborts DHT work when the node stops. */
  signal?: AbortSignal
}

export class BestKeeper implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/best-keeper'
  private readonly log: Logger
  private controller?: AbortController
  private timer?: ReturnType<typeof setInterval>
  private chain: Promise<void> = Promise.resolve()
  private lastRound = Number.NEGATIVE_INFINITY
  private trailing?: ReturnType<typeof setTimeout>

  constructor (private readonly components: SwarmComponents, private readonly init: BestKeeperInit) {
    this.log = components.logger.forComponent('swarm-node:best-keeper')
  }

  isStarted (): boolean { return this.controller != null }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    const every = this.init.refreshMs ?? BEST_REFRESH_MS
    this.timer = setInterval(() => { this.enqueue(async () => { await this.refresh() }) }, every)
    this.timer.unref?.()
    // What the swarm knew before we came.
    this.enqueue(async () => { await this.refresh() })
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    clearTimeout(this.trailing)
    this.trailing = undefined
    this.controller?.abort()
    this.controller = undefined
    await this.chain
  }

  private get signal (): AbortSignal {
    const own = this.controller?.signal ?? AbortSignal.abort()
    return this.init.signal != null ? AbortSignal.any([own, this.init.signal]) : own
  }

  /** Alone there is no DHT to ask; the periodic refresh publishes our best once peers come. */
  private get alone (): boolean {
    return connectedPeers(this.components).length === 0
  }

  /** A kept result of ours or a reproduced one: becomes our best (and the DHT's) where it ranks better. */
  offer (resultId: string): void {
    this.enqueue(async () => {
      const record = await this.init.build(resultId)
      if (record == null) return
      await this.keep(record, 'local')
      this.round()
    })
  }

  /** A DHT round (read, then write ours where it ranks better), now or folded into the next one. */
  private round (): void {
    if (this.alone || this.controller == null || this.trailing != null) return
    const gap = this.init.roundGapMs ?? Math.min(BEST_ROUND_GAP_MS, this.init.refreshMs ?? BEST_REFRESH_MS)
    const go = (): void => {
      this.trailing = undefined
      this.lastRound = Date.now()
      this.enqueue(async () => { if (!this.alone) await this.publishIfBetter(await this.read()) })
    }
    const wait = this.lastRound + gap - Date.now()
    if (wait <= 0) go()
    else {
      this.trailing = setTimeout(go, wait)
      this.trailing.unref?.()
    }
  }

  /** Our trust moved: a best of ours whose author (or a voucher) was caught lying is dropped for what ranks first now. */
  reconsider (): void {
    this.enqueue(async () => {
      const best = this.init.store.best(this.init.track)
      if (best == null || this.init.accepts(best)) return
      await this.init.store.dropBest(this.init.track)
      const top = this.init.top?.()
      if (top != null) this.offer(top)
    })
  }

  /** Reads the DHT's record, learns from it, keeps it if it is better here, and overwrites it where ours is. */
  async refresh (): Promise<void> {
    if (this.alone || this.controller == null) return
    this.lastRound = Date.now()
    const records = await this.read()
    const accepted = records.filter(r => this.init.accepts(r))
    for (const rec of accepted) await this.init.learn(rec)
    const top = accepted.sort(this.init.compare)[0]
    if (top != null) await this.keep(top, 'dht')
    await this.publishIfBetter(records)
  }

  private async read (): Promise<BestRecord[]> {
    return await getBestRecords(this.components.dht, this.init.project, this.init.track, this.signal)
  }

  /** Writes our best unless the DHT already holds a record this node ranks at least as well. */
  private async publishIfBetter (dhtRecords: BestRecord[]): Promise<void> {
    const mine = this.init.store.best(this.init.track)
    if (mine == null || !this.init.accepts(mine) || !vouched(this.init.evidence(mine))) return
    const theirs = dhtRecords.filter(r => this.init.accepts(r)).sort(this.init.compare)[0]
    const same = theirs != null && messageId(theirs) === messageId(mine)
    if (same || (theirs != null && this.init.compare(theirs, mine) <= 0)) return
    await putBestRecord(this.components.dht, mine, this.signal)
    this.init.onEvent({ type: 'published', kind: 'best', id: messageId(mine) })
  }

  /**
   * The better record by our evidence becomes our best. A bare claim (however
   * many keys attest it) ranks below any record measured here or reproduced by
   * peers we trust, and we never write one to the DHT ourselves.
   */
  private async keep (record: BestRecord, source: 'dht' | 'local'): Promise<void> {
    if (!this.init.accepts(record)) return
    const known = this.init.store.best(record.track)
    if (known != null && this.init.accepts(known) && this.init.compare(known, record) <= 0) return
    await this.init.store.putBest(record)
    const ev = this.init.evidence(record)
    this.init.onEvent({ type: 'best', project: record.project, track: record.track, result: messageId(record.result), val_bpb: ev.figure, evidence: ev.kind, attestations: record.attestations.length, source })
  }

  private enqueue (work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch(err => {
      if (this.controller == null || this.signal.aborted) return
      this.log.error('best record - %e', err)
      this.init.onEvent({ type: 'note', message: `best record: ${String(err?.message ?? err)}` })
    })
  }
}

/** Evidence this node can vouch for in the DHT: its own measurement or trusted reproductions. */
function vouched (e: Evidence): boolean {
  return e.kind === 'verified' || e.kind === 'reproduced'
}

export function bestKeeper (init: BestKeeperInit): (components: SwarmComponents) => BestKeeper {
  return components => new BestKeeper(components, init)
}
