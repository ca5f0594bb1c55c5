/**
 * Rendezvous on the public libp2p DHT (Amino): how members of a public swarm
 * find each other with no servers of our own. Each node announces itself as a
 * provider of its swarm's CID (`protocol/rendezvous.ts`: derived from the
 * project id and the optional swarm name) and looks up the other providers,
 * at start and whenever it has too few members; it announces again on a
 * schedule well inside the 48 h a provider record lives, and as soon as its
 * public addresses change (a relay reservation, an address AutoNAT confirmed),
 * so that what others find is how to reach it now.
 *
 * A node announces only addresses others can dial: confirmed public ones, or
 * its relay address. Behind a NAT, that is after it holds a relay reservation.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({
 *   services: {
 *     amino: kadDHT({ protocol: AMINO_PROTOCOL }),
 *     rendezvous: rendezvous({ namespaces: [rendezvousNamespace(project)], bootstrap: aminoPeers })
 *   }
 * })
 * node.services.rendezvous.addEventListener('rendezvous:found', e => { console.log(e.detail.peer) })
 * ```
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { isLoopback, isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type {
  AbortOptions, ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, PeerInfo, PeerStore, Startable, TypedEventTarget
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { rendezvousCid } from '../../protocol/rendezvous.ts'
import {
  AMINO_PROTOCOL, BOOTSTRAP_REDIAL_MS, DIAL_TIMEOUT_MS, LOOKUP_MAX_MS, LOOKUP_MIN_MS, MAX_DIALS_PER_LOOKUP,
  QUERY_TIMEOUT_MS, READDRESS_DELAY_MS, REPROVIDE_INTERVAL_MS
} from './constants.ts'

export { AMINO_PROTOCOL } from './constants.ts'

/** Defaults in constants.ts. */
export interface RendezvousInit {
  /** Namespaces (see `rendezvousNamespace`) to announce and look up from start; `add()` takes more later. */
  namespaces?: string[]
  /** Namespaces only looked up, never announced (a trainer looks for hubs, `HUBS_NAMESPACE`, but is none). */
  lookOnly?: string[]
  /** Amino bootstrap peers, dialled at start and when no Amino peer is left. */
  bootstrap?: string[]
  /** Announce ourselves (default true); a short-lived query node only looks. */
  announce?: boolean
  /** A loopback/LAN swarm (tests with stand-ins): private addresses are worth announcing too. */
  local?: boolean
  /** Members to have before lookups stop; default: the peer exchange's target. */
  minPeers?: number
  reprovideMs?: number
  lookupMinMs?: number
  lookupMaxMs?: number
  queryTimeoutMs?: number
  dialTimeoutMs?: number
  maxDialsPerLookup?: number
}

export interface RendezvousComponents {
  peerId: PeerId
  peerStore: PeerStore
  addressManager: { getAddresses(): Multiaddr[] }
  connectionManager: { getConnections(peer?: PeerId): Connection[], openConnection(peer: PeerId | Multiaddr | Multiaddr[], options?: AbortOptions): Promise<Connection> }
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /** The Amino kad-dht service (`/ipfs/kad/1.0.0`), configured beside us. */
  amino?: KadDHT
  /** Who counts as a member, and how many we hold directly. */
  peerExchange: { connectedPeers(): Set<string>, minPeers: number }
}

export interface RendezvousEvents {
  /** We announced `namespace` to `peers` Amino servers. */
  'rendezvous:provided': CustomEvent<{ namespace: string, peers: number, addrs: string[] }>
  /** A lookup of `namespace` named `providers` other nodes; `dialled` of them were new and `connected` answered. */
  'rendezvous:lookup': CustomEvent<{ namespace: string, providers: number, dialled: number, connected: number }>
  'rendezvous:error': CustomEvent<{ namespace: string, op: 'provide' | 'lookup', message: string }>
}

export interface NamespaceState {
  namespace: string
  cid: string
  providedAt: number | null
  /** Amino servers that took our last announcement. */
  providedTo: number
  lookedUpAt: number | null
  /** Other providers named by the last lookup. */
  providers: number
}

export class Rendezvous extends TypedEventEmitter<RendezvousEvents> implements Startable {
  readonly [Symbol.toStringTag] = 'swarm-node/rendezvous'
  private readonly log: Logger
  private readonly cfg: Required<Omit<RendezvousInit, 'namespaces' | 'lookOnly' | 'minPeers'>> & { minPeers?: number }
  private readonly spaces = new Map<string, NamespaceState & { key: Promise<CID>, announce: boolean }>()
  private controller?: AbortController
  private lookupTimer?: ReturnType<typeof setTimeout>
  private reprovideTimer?: ReturnType<typeof setInterval>
  private readdressTimer?: ReturnType<typeof setTimeout>
  private lookupDelay = 0
  private lookingUp?: Promise<void>
  /** The public addresses we last announced, as one string. */
  private announced = ''
  private bootstrapDialledAt = 0

  constructor (private readonly components: RendezvousComponents, init: RendezvousInit = {}) {
    super()
    this.log = components.logger.forComponent('swarm-node:rendezvous')
    this.cfg = {
      bootstrap: init.bootstrap ?? [],
      announce: init.announce ?? true,
      local: init.local ?? false,
      minPeers: init.minPeers,
      reprovideMs: init.reprovideMs ?? REPROVIDE_INTERVAL_MS,
      lookupMinMs: init.lookupMinMs ?? LOOKUP_MIN_MS,
      lookupMaxMs: init.lookupMaxMs ?? LOOKUP_MAX_MS,
      queryTimeoutMs: init.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
      dialTimeoutMs: init.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      maxDialsPerLookup: init.maxDialsPerLookup ?? MAX_DIALS_PER_LOOKUP
    }
    for (const ns of init.namespaces ?? []) this.track(ns, true)
    for (const ns of init.lookOnly ?? []) if (!this.spaces.has(ns)) this.track(ns, false)
  }

  isStarted (): boolean { return this.controller != null }

  private get amino (): KadDHT {
    let amino: KadDHT | undefined
    try { amino = this.components.amino } catch {} // libp2p's components throw on a service that is not configured
    if (amino == null) throw new Error('rendezvous needs the Amino kad-dht configured as the service "amino"')
    return amino
  }

  start (): void {
    void this.amino
    this.controller = new AbortController()
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
  }

  afterStart (): void {
    // Announce first (if we have an address worth it), then look: whoever announced before us is found now,
    // whoever comes later finds us.
    void this.dialBootstrap().then(async () => { await this.provideAll() }).finally(() => { this.scheduleLookup(0) })
    this.reprovideTimer = setInterval(() => { void this.provideAll() }, this.cfg.reprovideMs)
    this.reprovideTimer.unref?.()
  }

  stop (): void {
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    clearTimeout(this.lookupTimer)
    clearTimeout(this.readdressTimer)
    clearInterval(this.reprovideTimer)
    this.controller?.abort()
    this.controller = undefined
  }

  /** Meet the nodes of one more namespace (a bootstrap node following a new project). */
  add (namespace: string): void {
    const had = this.spaces.get(namespace)
    if (had?.announce === true) return
    if (had != null) had.announce = true
    else this.track(namespace, true)
    if (this.controller == null) return
    void this.provide(namespace)
    void this.lookup(namespace, true)
  }

  /** What we announced and found, per namespace. */
  status (): NamespaceState[] {
    return [...this.spaces.values()].map(({ key: _, announce: __, ...s }) => ({ ...s }))
  }

  /** Look up every namespace now (when short of members, or `force`); concurrent calls share one run. */
  async lookupAll (force = false): Promise<void> {
    this.lookingUp ??= (async () => {
      if (!force && !this.short()) return
      await this.dialBootstrap()
      if (this.unannounced()) await this.provideAll()
      await Promise.all([...this.spaces.keys()].map(async ns => { await this.lookup(ns, force) }))
    })().finally(() => { this.lookingUp = undefined })
    return this.lookingUp
  }

  private track (namespace: string, announce: boolean): void {
    const key = rendezvousCid(namespace)
    const state = { namespace, cid: '', providedAt: null, providedTo: 0, lookedUpAt: null, providers: 0, key, announce }
    void key.then(cid => { state.cid = cid.toString() }, () => {})
    this.spaces.set(namespace, state)
  }

  /** An announcement is due: never made for some namespace, or our reachable addresses changed since. */
  private unannounced (): boolean {
    if (!this.cfg.announce) return false
    const addrs = this.announceable().map(String).sort().join(' ')
    return addrs !== '' && (addrs !== this.announced || [...this.spaces.values()].some(s => s.announce && s.providedAt == null))
  }

  private short (): boolean {
    const target = this.cfg.minPeers ?? this.components.peerExchange.minPeers
    return this.components.peerExchange.connectedPeers().size < target
  }

  /** Addresses worth announcing: public ones (confirmed; the address manager lists no others) and relay addresses. */
  private announceable (): Multiaddr[] {
    const addrs = this.components.addressManager.getAddresses()
    return this.cfg.local ? addrs : addrs.filter(ma => !isPrivate(ma) && !isLoopback(ma))
  }

  private readonly onSelfUpdate = (): void => {
    if (this.controller == null || !this.cfg.announce) return
    const addrs = this.announceable().map(String).sort().join(' ')
    if (addrs === '' || addrs === this.announced) return
    clearTimeout(this.readdressTimer)
    this.readdressTimer = setTimeout(() => { void this.provideAll() }, READDRESS_DELAY_MS)
    this.readdressTimer.unref?.()
  }

  private readonly onConnectionClose = (): void => {
    // Losing a member below target: look again soon rather than at the backed-off interval.
    if (this.controller != null && this.short() && this.lookupDelay > this.cfg.lookupMinMs) {
      this.lookupDelay = 0
      this.scheduleLookup(this.cfg.lookupMinMs)
    }
  }

  private scheduleLookup (delayMs: number): void {
    if (this.controller == null) return
    clearTimeout(this.lookupTimer)
    this.lookupTimer = setTimeout(() => {
      const first = this.spaces.size > 0 && [...this.spaces.values()].every(s => s.lookedUpAt == null)
      this.lookupAll(first)
        .catch(err => { this.log.error('lookup failed - %e', err) })
        .finally(() => {
          // Short: look again soon, backing off for a swarm that is just small. Enough: check now and then.
          this.lookupDelay = this.short() ? Math.min(Math.max(this.lookupDelay * 2, this.cfg.lookupMinMs), this.cfg.lookupMaxMs) : this.cfg.lookupMaxMs
          this.scheduleLookup(this.lookupDelay)
        })
    }, delayMs)
    this.lookupTimer.unref?.()
  }

  private async provideAll (): Promise<void> {
    if (this.controller == null || !this.cfg.announce) return
    const addrs = this.announceable().map(String).sort()
    if (addrs.length === 0 || !(await this.canAsk())) return
    const changed = this.announced !== addrs.join(' ')
    this.announced = addrs.join(' ')
    await Promise.all([...this.spaces.values()].filter(s => s.announce).map(async s => { await this.provide(s.namespace) }))
    // Newly reachable (a relay, a confirmed address): those who looked before could not reach us; look for them now.
    if (changed && this.short()) void this.lookupAll(true)
  }

  private async provide (namespace: string): Promise<void> {
    const state = this.spaces.get(namespace)
    if (state?.announce !== true || !this.cfg.announce || this.announceable().length === 0 || !(await this.canAsk()) || this.controller == null) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.cfg.queryTimeoutMs)])
    let took = 0
    try {
      const cid = await state.key
      for await (const ev of this.amino.provide(cid, { signal })) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'ADD_PROVIDER') took++
      }
    } catch (err: any) {
      if (this.controller == null) return
      // A timeout after some servers took the record is a partial success: keep it.
      if (took === 0) {
        this.log('provide %s failed - %e', namespace, err)
        this.safeDispatchEvent('rendezvous:error', { detail: { namespace, op: 'provide', message: String(err?.message ?? err) } })
        return
      }
    }
    state.providedAt = Date.now()
    state.providedTo = took
    this.log('provided %s to %d peers', namespace, took)
    this.safeDispatchEvent('rendezvous:provided', { detail: { namespace, peers: took, addrs: this.announced.split(' ') } })
  }

  /** Finds other providers of `namespace` and dials the ones we are not linked with. */
  private async lookup (namespace: string, force: boolean): Promise<void> {
    const state = this.spaces.get(namespace)
    if (state == null || !(await this.canAsk()) || this.controller == null) return
    const self = this.components.peerId
    const found = new Map<string, PeerInfo>()
    const enough = new AbortController()
    const signal = AbortSignal.any([this.controller.signal, enough.signal, AbortSignal.timeout(this.cfg.queryTimeoutMs)])
    try {
      const cid = await state.key
      for await (const ev of this.amino.findProviders(cid, { signal })) {
        if (ev.name !== 'PROVIDER') continue
        for (const p of ev.providers) if (!p.id.equals(self)) found.set(p.id.toString(), p)
        // Amino may hold thousands of providers for a popular project: a handful more than we need is enough.
        if (found.size >= this.cfg.maxDialsPerLookup * 2) break
      }
    } catch (err: any) {
      if (this.controller == null) return
      if (found.size === 0) {
        this.log('lookup %s failed - %e', namespace, err)
        this.safeDispatchEvent('rendezvous:error', { detail: { namespace, op: 'lookup', message: String(err?.message ?? err) } })
      }
    } finally {
      enough.abort()
    }
    state.lookedUpAt = Date.now()
    state.providers = found.size
    const linked = new Set(this.components.connectionManager.getConnections().map(c => c.remotePeer.toString()))
    const todo = [...found.values()].filter(p => !linked.has(p.id.toString())).slice(0, this.cfg.maxDialsPerLookup)
    const results = await Promise.all(todo.map(async p => this.dial(p)))
    const connected = results.filter(Boolean).length
    if (force || found.size > 0) this.safeDispatchEvent('rendezvous:lookup', { detail: { namespace, providers: found.size, dialled: todo.length, connected } })
  }

  private async dial (peer: PeerInfo): Promise<boolean> {
    if (this.controller == null) return false
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.cfg.dialTimeoutMs)])
    try {
      if (peer.multiaddrs.length > 0) await this.components.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs })
      await this.components.connectionManager.openConnection(peer.id, { signal })
      return true
    } catch (err) {
      this.log('dial of provider %p failed - %e', peer.id, err)
      return false
    }
  }

  /** Dials the Amino bootstrap peers unless we already talk to some Amino server (at most every few minutes). */
  private async dialBootstrap (): Promise<void> {
    if (this.controller == null || this.cfg.bootstrap.length === 0) return
    if (Date.now() - this.bootstrapDialledAt < BOOTSTRAP_REDIAL_MS && this.bootstrapDialledAt !== 0) return
    if (await this.aminoServers() > 0 && this.bootstrapDialledAt !== 0) return
    this.bootstrapDialledAt = Date.now()
    await Promise.all(this.cfg.bootstrap.map(async addr => {
      const signal = AbortSignal.any([this.controller?.signal ?? AbortSignal.abort(), AbortSignal.timeout(this.cfg.dialTimeoutMs)])
      try {
        await this.components.connectionManager.openConnection(multiaddr(addr), { signal })
      } catch (err) {
        this.log('dial of Amino bootstrap peer %s failed - %e', addr, err)
      }
    }))
  }

  /** Running, and some Amino server to ask: without one a query would only wait out its timeout. */
  private async canAsk (): Promise<boolean> {
    if (this.controller == null) return false
    if (await this.aminoServers() > 0) return true
    this.log('no Amino server connected: nothing to ask yet')
    return false
  }

  /** Connected peers that serve Amino. */
  private async aminoServers (): Promise<number> {
    let n = 0
    for (const c of this.components.connectionManager.getConnections()) {
      const peer = await this.components.peerStore.get(c.remotePeer).catch(() => null)
      if (peer?.protocols.includes(AMINO_PROTOCOL) === true) n++
    }
    return n
  }
}

export function rendezvous (init: RendezvousInit = {}): (components: RendezvousComponents) => Rendezvous {
  return components => new Rendezvous(components, init)
}
