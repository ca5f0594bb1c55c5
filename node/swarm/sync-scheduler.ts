/**
 * Catching up with peers: every peer that identifies itself as speaking
 * `sync` is asked for the results and attestations since our last sync with
 * it (or all, the first time), at most once per SYNC_AGAIN_AFTER_MS. Late
 * joiners and healed partitions learn what gossip they missed this way.
 * `stop` removes the listener and aborts syncs in flight.
 */
import type { IdentifyResult, Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { SYNC_PROTOCOL, type AttestationMsg, type ResultMsg } from '../../protocol/index.ts'
import type { Component, SwarmComponents } from './components.ts'
import { connectedPeers } from './components.ts'
import { SYNC_AGAIN_AFTER_MS, SYNC_OVERLAP_MS } from './constants.ts'
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
  signal?: AbortSignal
}

export class SyncScheduler implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/sync-scheduler'
  private readonly log: Logger
  private readonly lastTry = new Map<string, number>()
  private readonly synced = new Map<string, number>()
  private controller?: AbortController

  constructor (private readonly components: SwarmComponents, private readonly init: SyncSchedulerInit) {
    this.log = components.logger.forComponent('swarm-node:sync')
  }

  isStarted (): boolean { return this.controller != null }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    // Peers identified before we started count too.
    for (const p of connectedPeers(this.components)) {
      void this.components.peerStore.get(p).then(info => { if (info.protocols.includes(SYNC_PROTOCOL)) void this.syncWith(p.toString()) }, () => {})
    }
  }

  stop (): void {
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
    if (now - (this.lastTry.get(peer) ?? 0) < (this.init.againAfterMs ?? SYNC_AGAIN_AFTER_MS)) return
    this.lastTry.set(peer, now)
    const signal = this.init.signal != null ? AbortSignal.any([controller.signal, this.init.signal]) : controller.signal
    try {
      // Overlap the last sync generously: clocks differ and dedup is cheap.
      const since = Math.max(0, (this.synced.get(peer) ?? 0) - SYNC_OVERLAP_MS)
      const res = await syncFrom(this.components, peerIdFromString(peer), this.init.project, since, this.init.accept, signal)
      this.synced.set(peer, now)
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
