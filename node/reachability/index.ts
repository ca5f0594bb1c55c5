/**
 * Reachability: whether strangers can dial this node, and what follows from
 * it. AutoNAT (and UPnP, when the router offers it) tell libp2p which of our
 * addresses are dialable; this service reads that verdict and acts on it:
 *
 * - private (behind a NAT, nothing mapped): listen on `/p2p-circuit`, so the
 *   relay transport holds a reservation on a reachable peer and we are
 *   dialable through it. DCUtR then tries to turn relayed links direct.
 * - public: serve as a circuit relay (with limits) for the nodes that are not.
 *   `swarm-node bootstrap` serves as a relay from the start (`relay: 'always'`).
 *
 * It also answers "how am I reachable" for `status` and `start`'s one line.
 *
 * @example
 * ```ts
 * services: { reachability: reachability({ relay: 'when-public' }) }
 * node.services.reachability.addEventListener('reachability:change', e => { console.log(e.detail.reachability) })
 * ```
 */
import { circuitRelayServer, type CircuitRelayService, type CircuitRelayServerComponents } from '@libp2p/circuit-relay-v2'
import { TypedEventEmitter } from '@libp2p/interface'
import { isLoopback, isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { classifyReachability, relaysOf, type OwnAddress, type Reachability } from './classify.ts'
import {
  RELAY_DATA_LIMIT_BYTES, RELAY_DURATION_LIMIT_MS, RELAY_MAX_RESERVATIONS, RELAY_RESERVATION_TTL_MS, RELAY_SEARCH_ADDR,
  RELAY_SEARCH_DELAY_MS
} from './constants.ts'

export { classifyReachability, linkOf, relaysOf, type Link, type LinkKind, type Reachability } from './classify.ts'

export interface ReachabilityInit {
  /** Serve as a circuit relay: always (bootstrap nodes), once AutoNAT says we are public, or never. Default when-public. */
  relay?: 'always' | 'when-public' | 'never'
  /** Hold a relay reservation while private (default true). */
  searchRelay?: boolean
  maxReservations?: number
  durationLimitMs?: number
  dataLimitBytes?: number
}

export interface ReachabilityComponents extends CircuitRelayServerComponents {
  addressManager: CircuitRelayServerComponents['addressManager'] & { getAddressesWithMetadata(): OwnAddress[] }
  transportManager: { listen(addrs: Multiaddr[]): Promise<void> }
  events: TypedEventTarget<Libp2pEvents>
}

/** How this node is reachable right now. */
export interface ReachabilityState {
  reachability: Reachability
  /** Public addresses confirmed dialable. */
  publicAddrs: string[]
  /** Our relay addresses, and the relays they go through. */
  relayAddrs: string[]
  relays: string[]
  /** We relay for others. */
  relaying: boolean
  /** Reservations others hold on us. */
  reservations: number
}

export interface ReachabilityEvents {
  'reachability:change': CustomEvent<ReachabilityState>
}

export class ReachabilityService extends TypedEventEmitter<ReachabilityEvents> implements Startable {
  readonly [Symbol.toStringTag] = 'swarm-node/reachability'
  private readonly log: Logger
  private readonly cfg: Required<ReachabilityInit>
  private server?: CircuitRelayService & Partial<Startable>
  private searching = false
  private started = false
  private searchTimer?: ReturnType<typeof setTimeout>
  /** No relay search before this time (UPnP may map a port first). */
  private searchAfter = Infinity
  private last = ''

  constructor (private readonly components: ReachabilityComponents, init: ReachabilityInit = {}) {
    super()
    this.log = components.logger.forComponent('swarm-node:reachability')
    this.cfg = {
      relay: init.relay ?? 'when-public',
      searchRelay: init.searchRelay ?? true,
      maxReservations: init.maxReservations ?? RELAY_MAX_RESERVATIONS,
      durationLimitMs: init.durationLimitMs ?? RELAY_DURATION_LIMIT_MS,
      dataLimitBytes: init.dataLimitBytes ?? RELAY_DATA_LIMIT_BYTES
    }
  }

  isStarted (): boolean { return this.started }

  start (): void {
    this.started = true
    this.components.events.addEventListener('self:peer:update', this.update)
  }

  async afterStart (): Promise<void> {
    if (this.cfg.relay === 'always') await this.serveRelay(true)
    // A moment for UPnP to map a port before we settle for a relay.
    this.searchAfter = Date.now() + RELAY_SEARCH_DELAY_MS
    this.searchTimer = setTimeout(this.update, RELAY_SEARCH_DELAY_MS)
    this.searchTimer.unref?.()
    this.update()
  }

  async stop (): Promise<void> {
    this.started = false
    clearTimeout(this.searchTimer)
    this.components.events.removeEventListener('self:peer:update', this.update)
    await this.serveRelay(false)
  }

  state (): ReachabilityState {
    const own = this.components.addressManager.getAddressesWithMetadata()
    const reachability = classifyReachability(own, ma => isPrivate(ma) || isLoopback(ma))
    const current = this.components.addressManager.getAddresses()
    const relayAddrs = current.filter(ma => ma.getComponents().some(c => c.name === 'p2p-circuit'))
    return {
      reachability,
      publicAddrs: current.filter(ma => !relayAddrs.includes(ma) && !isPrivate(ma) && !isLoopback(ma)).map(String),
      relayAddrs: relayAddrs.map(String),
      relays: relaysOf(relayAddrs),
      relaying: this.server != null,
      reservations: this.server?.reservations.size ?? 0
    }
  }

  private readonly update = (): void => {
    if (!this.started) return
    const s = this.state()
    if (s.reachability === 'private' && this.cfg.searchRelay && !this.searching && Date.now() >= this.searchAfter) void this.searchRelay()
    if (this.cfg.relay === 'when-public') void this.serveRelay(s.reachability === 'public')
    const key = JSON.stringify([s.reachability, s.publicAddrs, s.relays, s.relaying])
    if (key === this.last) return
    this.last = key
    this.log('reachability %s, relays %s', s.reachability, s.relays.join(','))
    this.safeDispatchEvent('reachability:change', { detail: s })
  }

  /** Behind a NAT: hold a reservation on a relay (the transport finds one among peers that offer the hop protocol). */
  private async searchRelay (): Promise<void> {
    this.searching = true
    try {
      await this.components.transportManager.listen([multiaddr(RELAY_SEARCH_ADDR)])
    } catch (err) {
      this.searching = false
      this.log.error('could not start the relay search - %e', err)
    }
  }

  private async serveRelay (on: boolean): Promise<void> {
    if (on === (this.server != null)) return
    if (on) {
      this.server = circuitRelayServer({
        reservations: {
          maxReservations: this.cfg.maxReservations,
          reservationTtl: RELAY_RESERVATION_TTL_MS,
          applyDefaultLimit: true,
          defaultDurationLimit: this.cfg.durationLimitMs,
          defaultDataLimit: BigInt(this.cfg.dataLimitBytes)
        }
      })(this.components) as CircuitRelayService & Partial<Startable>
      await this.server.start?.()
      this.log('serving as a circuit relay')
    } else {
      const server = this.server
      this.server = undefined
      await server?.stop?.()
      this.log('no longer serving as a circuit relay')
    }
    this.update()
  }
}

export function reachability (init: ReachabilityInit = {}): (components: ReachabilityComponents) => ReachabilityService {
  return components => new ReachabilityService(components, init)
}
