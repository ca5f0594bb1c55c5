/**
 * Catching up with peers: every peer that identifies itself as speaking
 * `sync` is asked for the results and attestations since our last sync with
 * it (or all, the first time), at most once per SYNC_AGAIN_AFTER_MS. Late
 * joiners and healed partitions learn what gossip they missed this way; and
 * since gossip can miss a message without anyone noticing (a mesh that formed
 * after it was published, a forwarder that joined the topic late), every
 * SYNC_ROUND_MS the connected peer synced least recently is asked again.
 * What it remembers per peer is bounded (SYNC_MAX_PEERS, least recently tried
 * forgotten first): peer ids are free. `stop` removes the listener and aborts
 * syncs in flight.
 */
import type { IdentifyResult, Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { SYNC_PROTOCOL, type AttestationMsg, type ResultMsg } from '../../protocol/index.ts'
import type { Component, SwarmComponents } from './components.ts'
import { connectedPeers } from './components.ts'
import { SYNC_AGAIN_AFTER_MS, SYNC_MAX_PEERS, SYNC_OVERLAP_MS, SYNC_ROUND_MS } from './constants.ts'
import { syncFrom } from './protocols.ts'

export type SyncEvent =
  | { type: 'synced', peer: string, added: number, rejected: number }
  | { type: 'note', message: string }

export interface SyncSchedulerInit {
  project: string
  /** Stores a verified message and acts on it; true when it was new. */
  accept: (m: ResultMsg | AttestationMsg) => Promise<boolean>
  onEvent: (e: SyncEvent) => void
  againAfterMs?: number
  /** How often the peer synced least recently is asked again (default SYNC_ROUND_MS; 0: never). */
  roundMs?: number
  /** Peers remembered (default SYNC_MAX_PEERS). */
  maxPeers?: number
  signal?: AbortSignal
}

/** When a peer was last tried, and the start time of its last sync that completed. */
interface PeerSync { tried: number, synced?: number }

/**
 * Per-peer sync times, at most `max` peers, the least recently touched
 * forgotten first (a Map iterates in insertion order: touching re-inserts).
 */
export class SyncMemory {
  private readonly peers = new Map<string, PeerSync>()

  constructor (readonly max = SYNC_MAX_PEERS) {
    if (!(max >= 1)) throw new RangeError(`maxPeers must be >= 1, got ${max}`)
  }

  get (peer: string): PeerSync | undefined { return this.peers.get(peer) }

  /** Records `peer`'s times as the most recent entry, forgetting the oldest beyond `max`. */
  set (peer: string, times: PeerSync): void {
    this.peers.delete(peer)
    this.peers.set(peer, times)
    while (this.peers.size > this.max) this.peers.delete(this.peers.keys().next().value as string)
  }

  get size (): number { return this.peers.size }
}

export class SyncScheduler implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/sync-scheduler'
  private readonly log: Logger
  private readonly memory: SyncMemory
  private controller?: AbortController
  private round?: ReturnType<typeof setInterval>

  constructor (private readonly components: SwarmComponents, private readonly init: SyncSchedulerInit) {
    this.log = components.logger.forComponent('swarm-node:sync')
    this.memory = new SyncMemory(init.maxPeers ?? SYNC_MAX_PEERS)
  }

  /** Peers whose sync times are remembered now (at most `maxPeers`). */
  get remembered (): number { return this.memory.size }

  isStarted (): boolean { return this.controller != null }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    // Peers identified before we started count too, over a direct link (a relayed one is limited: sync waits for the upgrade).
    for (const p of this.directPeers()) void this.speaksSync(p).then(yes => { if (yes) void this.syncWith(p) })
    const every = this.init.roundMs ?? SYNC_ROUND_MS
    if (every > 0) {
      this.round = setInterval(() => { void this.syncRound() }, every)
      this.round.unref?.()
    }
  }

  /** Peers connected over a direct link. */
  private directPeers (): string[] {
    const direct = new Set(this.components.connectionManager.getConnections().filter(c => c.status === 'open' && c.limits == null).map(c => c.remotePeer.toString()))
    return connectedPeers(this.components).map(p => p.toString()).filter(p => direct.has(p))
  }

  private async speaksSync (peer: string): Promise<boolean> {
    const info = await this.components.peerStore.get(peerIdFromString(peer)).catch(() => null)
    return info?.protocols.includes(SYNC_PROTOCOL) === true
  }

  /** One anti-entropy round: the direct peer that speaks sync and was tried longest ago (never first). */
  private async syncRound (): Promise<void> {
    const peers: string[] = []
    for (const p of this.directPeers()) if (await this.speaksSync(p)) peers.push(p)
    const oldest = peers.sort((a, b) => (this.memory.get(a)?.tried ?? 0) - (this.memory.get(b)?.tried ?? 0))[0]
    if (oldest != null) await this.syncWith(oldest)
  }

  stop (): void {
    if (this.round != null) clearInterval(this.round)
    this.round = undefined
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.controller?.abort()
    this.controller = undefined
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    // Sync waits for a direct link (identify runs again on it): a relayed one is limited.
    if (evt.detail.connection.limits != null) return
    if (evt.detail.protocols.includes(SYNC_PROTOCOL)) void this.syncWith(evt.detail.peerId.toString())
  }

  async syncWith (peer: string): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    const now = Date.now()
    const last = this.memory.get(peer)
    if (now - (last?.tried ?? 0) < (this.init.againAfterMs ?? SYNC_AGAIN_AFTER_MS)) return
    this.memory.set(peer, { ...last, tried: now })
    const signal = this.init.signal != null ? AbortSignal.any([controller.signal, this.init.signal]) : controller.signal
    try {
      // Overlap the last sync generously: clocks differ and dedup is cheap.
      const since = Math.max(0, (last?.synced ?? 0) - SYNC_OVERLAP_MS)
      const res = await syncFrom(this.components, peerIdFromString(peer), this.init.project, since, this.init.accept, signal)
      // Read again: other peers may have come and gone during the sync; a forgotten peer is remembered anew.
      this.memory.set(peer, { tried: this.memory.get(peer)?.tried ?? now, synced: now })
      if (res.added > 0 || res.rejected > 0) this.init.onEvent({ type: 'synced', peer, added: res.added, rejected: res.rejected })
    } catch (err: any) {
      if (signal.aborted) return
      this.log('sync with %s failed - %e', peer, err)
      if (err?.code !== 'not-found') this.init.onEvent({ type: 'note', message: `sync with ${peer.slice(-8)} failed: ${err.message}` })
    }
  }
}

export function syncScheduler (init: SyncSchedulerInit): (components: SwarmComponents) => SyncScheduler {
  return components => new SyncScheduler(components, init)
}
