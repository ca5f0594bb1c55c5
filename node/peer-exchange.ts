/**
 * A small libp2p service that keeps every node linked to several swarm
 * members, not just the bootstrap node: gossip through one hub is slow and
 * lossy (see shared/LIBP2P-NOTES.md).
 *
 * A member is a peer that speaks the swarm's own DHT protocol. A public node
 * also talks to peers of the public Amino DHT and to relays; those are not
 * members, never count towards the target and are never dialled as
 * candidates. A member reached only over a limited (relayed) link does not
 * count either: gossip and sync wait for a direct link.
 */
import { isMultiaddr } from '@multiformats/multiaddr'
import type {
  PeerId, PeerInfo, PeerStore, ComponentLogger, Logger, Connection, AbortOptions, TypedEventTarget, Libp2pEvents, Startable,
  PeerDiscovery, PeerDiscoveryEvents
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KAD_PROTOCOL } from '../protocol/topics.ts'
import {
  DIAL_TIMEOUT_MS, MEMBER_TAG, MEMBER_TAG_VALUE, PEER_EXCHANGE_MAX_DISCOVERED, PEER_EXCHANGE_MIN_PEERS, PEER_EXCHANGE_INTERVAL_MS, PEER_EXCHANGE_FIRST_DELAY_MS,
  PEER_EXCHANGE_QUERY_TIMEOUT_MS, PEER_EXCHANGE_RETRY_AFTER_MS
} from './constants.ts'

/** Defaults in constants.ts (PEER_EXCHANGE_*, DIAL_TIMEOUT_MS). */
export interface PeerExchangeInit {
  minPeers?: number // connected peers to keep; below it the node dials more
  intervalMs?: number // between checks
  firstDelayMs?: number // first check after start
  queryTimeoutMs?: number // one DHT walk
  dialTimeoutMs?: number // one dial
  bootstrap?: Multiaddr[] // redialled whenever the node is below target
  memberProtocol?: string // a member speaks it (default: the swarm's kad protocol)
}

interface PeerExchangeComponents {
  peerId: PeerId
  peerStore: PeerStore
  connectionManager: { getConnections(): Connection[], openConnection(peer: PeerId | Multiaddr, options?: AbortOptions): Promise<Connection> }
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /** The swarm's kad-dht service (configured before us): its query events name members early. */
  dht: KadDHT
  /** mDNS, when on: peers it finds on the LAN are candidates. */
  mdns?: PeerDiscovery
}

/**
 * Keeps a node connected to `minPeers` swarm members. Nodes usually know only
 * a bootstrap node; gossip through that single hub is slow and lossy. Below
 * target the node (1) redials its bootstrap nodes, (2) dials peers already in
 * its peer store (learned from identify, the DHT or mDNS), (3) walks the DHT
 * towards a random key and dials the peers it finds.
 */
export class PeerExchange implements Startable {
  readonly [Symbol.toStringTag] = 'swarm-node/peer-exchange'
  private readonly log: Logger
  private readonly cfg: Required<PeerExchangeInit>
  /** peer id -> when a dial to it last failed. */
  private readonly failedAt = new Map<string, number>()
  /**
   * Peers whose identify did not name the member protocol (Amino servers,
   * relays). A peer counts as a member until identify says otherwise: on a
   * busy machine identify can take seconds, and a node that waited for it
   * would dial ever more peers meanwhile.
   */
  private readonly nonMembers = new Set<string>()
  /** Peers the swarm's own sources named (its DHT, mDNS) before we spoke to them; oldest dropped first. */
  private readonly discovered = new Set<string>()
  private controller?: AbortController
  private timer?: ReturnType<typeof setTimeout>
  private running?: Promise<number>
  /** Delay of the next look while below target; doubles up to the interval. */
  private retryMs = 0

  constructor (private readonly components: PeerExchangeComponents, init: PeerExchangeInit = {}) {
    this.log = components.logger.forComponent('swarm-node:peer-exchange')
    this.cfg = {
      minPeers: init.minPeers ?? PEER_EXCHANGE_MIN_PEERS,
      intervalMs: init.intervalMs ?? PEER_EXCHANGE_INTERVAL_MS,
      firstDelayMs: init.firstDelayMs ?? PEER_EXCHANGE_FIRST_DELAY_MS,
      queryTimeoutMs: init.queryTimeoutMs ?? PEER_EXCHANGE_QUERY_TIMEOUT_MS,
      dialTimeoutMs: init.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      bootstrap: init.bootstrap ?? [],
      memberProtocol: init.memberProtocol ?? KAD_PROTOCOL
    }
  }

  isStarted (): boolean { return this.controller != null }

  /** Where candidates come from besides identify: the swarm's DHT (a peer-discovery source too) and mDNS. */
  private sources (): Array<TypedEventTarget<PeerDiscoveryEvents>> {
    const dht = this.components.dht as unknown as Partial<TypedEventTarget<PeerDiscoveryEvents>>
    // libp2p's components throw on a service that is not configured.
    let mdns: PeerDiscovery | undefined
    try { mdns = this.components.mdns } catch {}
    return [...(dht.addEventListener != null ? [dht as TypedEventTarget<PeerDiscoveryEvents>] : []), ...(mdns != null ? [mdns] : [])]
  }

  /** Members this node keeps linked to. */
  get minPeers (): number { return this.cfg.minPeers }

  start (): void {
    this.controller = new AbortController()
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.sources().forEach(s => { s.addEventListener('peer', this.onDiscovered) })
  }

  afterStart (): void {
    // Bootstrap right away; the first exchange waits for identify to tell us who they know.
    void this.dialBootstrap()
    this.schedule(this.cfg.firstDelayMs)
  }

  stop (): void {
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    this.sources().forEach(s => { s.removeEventListener('peer', this.onDiscovered) })
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
  }

  /** Distinct members we hold an open, direct (not limited) connection to. */
  connectedPeers (): Set<string> {
    const peers = new Set<string>()
    for (const c of this.components.connectionManager.getConnections()) {
      const id = c.remotePeer.toString()
      if (c.status === 'open' && c.limits == null && !this.nonMembers.has(id)) peers.add(id)
    }
    return peers
  }

  /** Whether `peer` may be a swarm member (identify has not said otherwise). */
  isMember (peer: string): boolean {
    return !this.nonMembers.has(peer)
  }

  /** Look for peers now (if below target); resolves to how many were gained. Concurrent calls share one run. */
  async exchange (): Promise<number> {
    this.running ??= this.fill().finally(() => { this.running = undefined })
    return this.running
  }

  private readonly onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    const id = evt.detail.peerId.toString()
    if (evt.detail.protocols.includes(this.cfg.memberProtocol)) {
      this.nonMembers.delete(id)
      // When the connection manager must prune, members are the last to go (Amino peers and relays first).
      void this.components.peerStore.merge(evt.detail.peerId, { tags: { [MEMBER_TAG]: { value: MEMBER_TAG_VALUE } } }).catch(() => {})
    } else {
      this.nonMembers.add(id)
    }
  }

  // Only connected peers are judged: the set stays as small as our connections.
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.nonMembers.delete(evt.detail.toString())
  }

  private readonly onDiscovered = (evt: CustomEvent<PeerInfo>): void => {
    const id = evt.detail.id.toString()
    this.discovered.delete(id)
    this.discovered.add(id)
    if (this.discovered.size > PEER_EXCHANGE_MAX_DISCOVERED) this.discovered.delete(this.discovered.values().next().value as string)
  }

  private readonly onConnectionClose = (): void => {
    // Losing a link below target: look again soon rather than at the next interval.
    if (this.controller != null && this.connectedPeers().size < this.cfg.minPeers) {
      this.retryMs = 0
      this.schedule(this.cfg.firstDelayMs)
    }
  }

  private schedule (delayMs: number): void {
    if (this.controller == null) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.exchange()
        .catch(err => { this.log.error('peer exchange failed - %e', err) })
        .finally(() => {
          // Still short (a young swarm, identify or the DHT not ready yet): look
          // again soon, backing off to the interval for a swarm that is just small.
          const short = this.connectedPeers().size < this.cfg.minPeers
          this.retryMs = short ? Math.min(Math.max(this.retryMs * 2, this.cfg.firstDelayMs * 2), this.cfg.intervalMs) : 0
          this.schedule(short ? this.retryMs : this.cfg.intervalMs)
        })
    }, delayMs)
    this.timer.unref?.()
  }

  private async fill (): Promise<number> {
    const before = this.connectedPeers().size
    if (before >= this.cfg.minPeers || this.controller == null) return 0
    this.forgetOldFailures()
    const triedBootstrap = await this.dialBootstrap()
    // A bootstrap node that just failed is not tried again by id this round (it cost a dial timeout already).
    await this.dialSome((await this.storedCandidates()).filter(p => !triedBootstrap.has(p.id.toString()) || this.connectedPeers().has(p.id.toString())))
    // With no connection there is nobody to ask: a walk would only wait out its timeout.
    if (this.connectedPeers().size > 0 && this.connectedPeers().size < this.cfg.minPeers) await this.dialSome(await this.walk())
    const gained = this.connectedPeers().size - before
    this.log('peer exchange: %d -> %d peers', before, before + gained)
    return gained
  }

  /** Dials the bootstrap nodes we are not connected to; returns the ids tried. */
  private async dialBootstrap (): Promise<Set<string>> {
    const connected = this.connectedPeers()
    const self = this.components.peerId.toString()
    const todo = this.cfg.bootstrap.filter(ma => {
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      // A bootstrap node may be handed the shared list that names itself.
      return id != null && id !== self && !connected.has(id)
    })
    // Bootstrap nodes are never put on the failure list: they are our way back in.
    await Promise.all(todo.map(async ma => this.dial(ma)))
    return new Set(todo.map(ma => ma.getComponents().findLast(c => c.name === 'p2p')?.value ?? ''))
  }

  /**
   * Members we know addresses of but are not connected to, in random order:
   * peers identify showed to be members, and peers the swarm's DHT or mDNS
   * named. Never the peer store at large: a public node's store fills with
   * Amino peers, which are no members.
   */
  private async storedCandidates (): Promise<PeerInfo[]> {
    const connected = this.connectedPeers()
    const self = this.components.peerId
    const member = (protocols: string[], id: string): boolean =>
      protocols.includes(this.cfg.memberProtocol) || (protocols.length === 0 && this.discovered.has(id))
    const peers = await this.components.peerStore.all({
      filters: [p => {
        const id = p.id.toString()
        return !p.id.equals(self) && p.addresses.length > 0 && !connected.has(id) && !this.recentlyFailed(id) && member(p.protocols, id)
      }]
    })
    return shuffle(peers.map(p => ({ id: p.id, multiaddrs: p.addresses.map(a => a.multiaddr) })))
  }

  /**
   * A DHT walk towards a random key: every hop answers with members it knows.
   * The first answers are enough (our bootstrap node usually knows everyone),
   * so stop as soon as there are twice as many candidates as we need rather
   * than waiting for the whole query, which dials its way across the swarm.
   */
  private async walk (): Promise<PeerInfo[]> {
    if (this.controller == null) return []
    const found = new Map<string, PeerInfo>()
    const want = 2 * Math.max(1, this.cfg.minPeers - this.connectedPeers().size)
    const enough = new AbortController()
    const signal = AbortSignal.any([this.controller.signal, enough.signal, AbortSignal.timeout(this.cfg.queryTimeoutMs)])
    const key = crypto.getRandomValues(new Uint8Array(32))
    const connected = this.connectedPeers()
    const consider = (info: PeerInfo): void => {
      const id = info.id.toString()
      if (!info.id.equals(this.components.peerId) && !connected.has(id) && !this.recentlyFailed(id)) found.set(id, info)
      if (found.size >= want) enough.abort()
    }
    try {
      for await (const ev of this.components.dht.getClosestPeers(key, { signal })) {
        if (ev.name === 'PEER_RESPONSE') ev.closer.forEach(consider)
        else if (ev.name === 'FINAL_PEER') consider(ev.peer)
        if (enough.signal.aborted) break
      }
    } catch (err) {
      // Enough found, an empty routing table or a timeout: keep whatever was found.
      if (!enough.signal.aborted) this.log('DHT walk ended early - %e', err)
    } finally {
      enough.abort()
    }
    return shuffle([...found.values()])
  }

  /** Dial candidates, a batch at a time, until the target is reached or they run out. */
  private async dialSome (candidates: PeerInfo[]): Promise<void> {
    const queue = [...candidates]
    while (queue.length > 0 && this.controller != null) {
      const connected = this.connectedPeers()
      const need = this.cfg.minPeers - connected.size
      if (need <= 0) return
      const batch = queue.splice(0, need).filter(p => !connected.has(p.id.toString()))
      await Promise.all(batch.map(async peer => {
        if (peer.multiaddrs.length > 0) await this.components.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs }).catch(() => {})
        await this.dial(peer.id)
      }))
    }
  }

  private async dial (target: PeerId | Multiaddr): Promise<void> {
    if (this.controller == null) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.cfg.dialTimeoutMs)])
    try {
      await this.components.connectionManager.openConnection(target, { signal })
    } catch (err) {
      if (!isMultiaddr(target)) this.failedAt.set(target.toString(), Date.now())
      this.log('dial %s failed - %e', target, err)
    }
  }

  private recentlyFailed (id: string): boolean {
    const at = this.failedAt.get(id)
    return at != null && Date.now() - at < PEER_EXCHANGE_RETRY_AFTER_MS
  }

  private forgetOldFailures (): void {
    for (const [id, at] of this.failedAt) {
      if (Date.now() - at >= PEER_EXCHANGE_RETRY_AFTER_MS) this.failedAt.delete(id)
    }
  }
}

export function peerExchange (init: PeerExchangeInit = {}): (components: PeerExchangeComponents) => PeerExchange {
  return components => new PeerExchange(components, init)
}

function shuffle<T> (items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}
