/**
 * The libp2p node of swarm-node: TCP + Noise + Yamux, optionally inside a
 * private network (pnet), with identify, ping, GossipSub (signed messages,
 * peer scoring), a private kad-dht and a small peer-exchange service that
 * keeps every node linked to several swarm members, not just the bootstrap.
 *
 * @example
 * ```ts
 * const node = await createSwarmLibp2p({ privateKey, bootstrap: ['/ip4/1.2.3.4/tcp/4011/p2p/12D3…'] })
 * setTopicScoreParams(node.services.pubsub, topic, topicScoreParams())
 * node.services.pubsub.topicValidators.set(topic, validate)
 * node.services.pubsub.subscribe(topic)
 * ```
 *
 * A private swarm (`swarmKey` set) only ever talks to holders of the key, but
 * the caller decides whom it dials: pass ONLY the private swarm's bootstrap
 * addresses then, never the public default list.
 */
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, StrictSign } from '@libp2p/gossipsub'
import { createTopicScoreParams, validateTopicScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { isLoopback } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import type { GossipSub } from '@libp2p/gossipsub'
import type { TopicScoreParams, PeerScore } from '@libp2p/gossipsub/score'
import type { Identify } from '@libp2p/identify'
import type {
  Libp2p, PrivateKey, ConnectionGater, PeerId, PeerStore, PeerRouting, PeerInfo,
  ComponentLogger, Logger, Connection, AbortOptions, TypedEventTarget, Libp2pEvents, Startable
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KAD_PROTOCOL } from '../protocol/topics.ts'
import {
  DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DIAL_TIMEOUT_MS, GOSSIP_D, GOSSIP_DHI, GOSSIP_DLAZY, GOSSIP_DLO,
  GOSSIP_DOUT, GOSSIP_DSCORE, GOSSIP_HEARTBEAT_MS, GOSSIP_MAX_MESSAGE_BYTES, LOCAL_INBOUND_CONNECTION_THRESHOLD,
  SCORE_FIRST_DELIVERY_CAP, SCORE_FIRST_DELIVERY_DECAY, SCORE_FIRST_DELIVERY_WEIGHT, SCORE_INVALID_DECAY,
  SCORE_INVALID_WEIGHT, SCORE_TIME_IN_MESH_CAP, SCORE_TIME_IN_MESH_WEIGHT, PEER_EXCHANGE_MIN_PEERS,
  PEER_EXCHANGE_INTERVAL_MS, PEER_EXCHANGE_FIRST_DELAY_MS, PEER_EXCHANGE_QUERY_TIMEOUT_MS, PEER_EXCHANGE_RETRY_AFTER_MS
} from './constants.ts'

export interface SwarmLibp2pOptions {
  privateKey: PrivateKey
  /** Default `['/ip4/0.0.0.0/tcp/4011']`; tests pass `/ip4/127.0.0.1/tcp/0`. */
  listen?: string[]
  /**
   * Multiaddrs ending in `/p2p/<id>`: fed to bootstrap discovery and dialled at
   * start (and again whenever the node falls below its peer target). With a
   * `swarmKey`, pass only the private swarm's own bootstrap nodes.
   */
  bootstrap?: string[]
  /** Bytes of a pnet key file (see `readSwarmKey`): only holders can connect. */
  swarmKey?: Uint8Array
  /** LAN discovery. Default true, but false when `swarmKey` is set (it announces us to the LAN). */
  mdns?: boolean
  /**
   * Loopback/LAN swarm: whitelist 127.0.0.1 in IP-colocation scoring, accept
   * many inbound connections per second from one host, keep private addresses
   * in DHT peer info, and allow dialling loopback addresses.
   */
  local?: boolean
  dhtValidators?: Record<string, (key: Uint8Array, value: Uint8Array) => Promise<void>>
  dhtSelectors?: Record<string, (key: Uint8Array, values: Uint8Array[]) => number>
  /** Default 64. */
  maxConnections?: number
  /** `maxMessageBytes`: inbound cap per gossip frame, default 1 MiB. */
  gossip?: { maxMessageBytes?: number }
  /** Peers to stay connected to and how often to look for them (defaults in constants.ts). */
  peerExchange?: Omit<PeerExchangeInit, 'bootstrap'>
  /** Start the node before returning; default true. */
  start?: boolean
}

// A type alias, not an interface: libp2p's ServiceMap needs an index signature.
export type SwarmServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
  peerExchange: PeerExchange
}

export type SwarmLibp2p = Libp2p<SwarmServices>

export class SwarmConfigError extends Error {
  override readonly name = 'SwarmConfigError'
}

export async function createSwarmLibp2p (opts: SwarmLibp2pOptions): Promise<SwarmLibp2p> {
  const local = opts.local === true
  const bootstrapAddrs = parseBootstrap(opts.bootstrap ?? [])
  // mDNS shouts our addresses to the LAN: a private swarm opts in explicitly.
  const useMdns = opts.mdns ?? (opts.swarmKey == null)

  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (bootstrapAddrs.length > 0) peerDiscovery.push(bootstrap({ list: bootstrapAddrs.map(a => a.toString()) }))
  if (useMdns) peerDiscovery.push(mdns())

  return createLibp2p<SwarmServices>({
    start: opts.start ?? true,
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen ?? DEFAULT_LISTEN },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(opts.swarmKey != null ? { connectionProtector: preSharedKey({ psk: opts.swarmKey }) } : {}),
    connectionManager: {
      maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      dialTimeout: DIAL_TIMEOUT_MS,
      ...(local ? { inboundConnectionThreshold: LOCAL_INBOUND_CONNECTION_THRESHOLD } : {})
    },
    connectionGater: connectionGater(local),
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictSign,
        emitSelf: false,
        floodPublish: true,
        // Publishing alone (e.g. the first node of a swarm) is not an error:
        // `recipients` in the result says who got it.
        allowPublishToZeroTopicPeers: true,
        fallbackToFloodsub: false,
        D: GOSSIP_D, Dlo: GOSSIP_DLO, Dhi: GOSSIP_DHI, Dout: GOSSIP_DOUT, Dscore: GOSSIP_DSCORE, Dlazy: GOSSIP_DLAZY,
        heartbeatInterval: GOSSIP_HEARTBEAT_MS,
        maxInboundDataLength: opts.gossip?.maxMessageBytes ?? GOSSIP_MAX_MESSAGE_BYTES,
        scoreParams: {
          // Every member of a local swarm shares 127.0.0.1: without this the
          // colocation penalty graylists them all beyond 10 peers.
          IPColocationFactorWhitelist: new Set(local ? ['127.0.0.1', '::1'] : [])
        }
      }),
      dht: kadDHT({
        protocol: KAD_PROTOCOL,
        // Client mode on a LAN/loopback leaves routing tables empty and puts hang.
        clientMode: false,
        peerInfoMapper: local ? passthroughMapper : removePrivateAddressesMapper,
        validators: opts.dhtValidators ?? {},
        selectors: opts.dhtSelectors ?? {}
      }),
      peerExchange: peerExchange({ ...opts.peerExchange, bootstrap: bootstrapAddrs })
    }
  })
}

/**
 * Topic score params that make peer scoring mean something: the defaults
 * score nothing. Invalid messages (validator Reject) cost the forwarder (P4),
 * first deliveries and time in the mesh earn a little. The mesh-delivery
 * deficit penalties (P3, P3b) stay off: a results topic carries a message per
 * node every few minutes, so quiet honest peers would be punished.
 */
export function topicScoreParams (overrides: Partial<TopicScoreParams> = {}): TopicScoreParams {
  const params = createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: SCORE_TIME_IN_MESH_WEIGHT, timeInMeshQuantum: 1000, timeInMeshCap: SCORE_TIME_IN_MESH_CAP,
    firstMessageDeliveriesWeight: SCORE_FIRST_DELIVERY_WEIGHT, firstMessageDeliveriesDecay: SCORE_FIRST_DELIVERY_DECAY, firstMessageDeliveriesCap: SCORE_FIRST_DELIVERY_CAP,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: SCORE_INVALID_WEIGHT, invalidMessageDeliveriesDecay: SCORE_INVALID_DECAY,
    ...overrides
  })
  validateTopicScoreParams(params)
  return params
}

/**
 * Score a topic with `params` from now on. GossipSub only takes topic params
 * at construction in its public options, but reads them from its PeerScore on
 * every use, so setting them there works for topics chosen later (set them
 * before subscribing: stats are only kept for scored topics).
 */
export function setTopicScoreParams (pubsub: GossipSub, topic: string, params: TopicScoreParams): void {
  validateTopicScoreParams(params)
  const score = (pubsub as GossipSub & { score?: PeerScore }).score
  if (score?.params?.topics == null) throw new SwarmConfigError('this GossipSub build exposes no peer score to configure')
  score.params.topics[topic] = params
}

/** A peer's current GossipSub score (0 when unknown). */
export function peerScore (pubsub: GossipSub, peerId: string): number {
  const gs = pubsub as GossipSub & { getScore?: (id: string) => number }
  return gs.getScore?.(peerId) ?? 0
}

function parseBootstrap (list: string[]): Multiaddr[] {
  return list.map(str => {
    let ma: Multiaddr
    try {
      ma = multiaddr(str)
    } catch (err: any) {
      throw new SwarmConfigError(`bootstrap address "${str}" is not a multiaddr: ${err.message}`)
    }
    if (ma.getComponents().findLast(c => c.name === 'p2p')?.value == null) {
      throw new SwarmConfigError(`bootstrap address "${str}" lacks /p2p/<peer id>`)
    }
    return ma
  })
}

/**
 * A public node refuses to dial loopback addresses: a stranger could
 * advertise them to make us poke our own machine's services. A local swarm
 * lives on loopback, so it allows them.
 */
function connectionGater (local: boolean): ConnectionGater {
  return local ? {} : { denyDialMultiaddr: (ma: Multiaddr) => isLoopback(ma) }
}

// --- peer exchange -----------------------------------------------------------

/** Defaults in constants.ts (PEER_EXCHANGE_*, DIAL_TIMEOUT_MS). */
export interface PeerExchangeInit {
  minPeers?: number // connected peers to keep; below it the node dials more
  intervalMs?: number // between checks
  firstDelayMs?: number // first check after start
  queryTimeoutMs?: number // one DHT walk
  dialTimeoutMs?: number // one dial
  bootstrap?: Multiaddr[] // redialled whenever the node is below target
}

interface PeerExchangeComponents {
  peerId: PeerId
  peerStore: PeerStore
  peerRouting: PeerRouting
  connectionManager: { getConnections(): Connection[], openConnection(peer: PeerId | Multiaddr, options?: AbortOptions): Promise<Connection> }
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /** The kad-dht service when it is configured before us: its query events come early. */
  dht?: KadDHT
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
      bootstrap: init.bootstrap ?? []
    }
  }

  isStarted (): boolean { return this.controller != null }

  start (): void {
    this.controller = new AbortController()
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
  }

  afterStart (): void {
    // Bootstrap right away; the first exchange waits for identify to tell us who they know.
    void this.dialBootstrap()
    this.schedule(this.cfg.firstDelayMs)
  }

  stop (): void {
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
  }

  /** Distinct peers we hold an open connection to. */
  connectedPeers (): Set<string> {
    const peers = new Set<string>()
    for (const c of this.components.connectionManager.getConnections()) {
      if (c.status === 'open') peers.add(c.remotePeer.toString())
    }
    return peers
  }

  /** Look for peers now (if below target); resolves to how many were gained. Concurrent calls share one run. */
  async exchange (): Promise<number> {
    this.running ??= this.fill().finally(() => { this.running = undefined })
    return this.running
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
    await this.dialBootstrap()
    await this.dialSome(await this.storedCandidates())
    if (this.connectedPeers().size < this.cfg.minPeers) await this.dialSome(await this.walk())
    const gained = this.connectedPeers().size - before
    this.log('peer exchange: %d -> %d peers', before, before + gained)
    return gained
  }

  private async dialBootstrap (): Promise<void> {
    const connected = this.connectedPeers()
    const self = this.components.peerId.toString()
    const todo = this.cfg.bootstrap.filter(ma => {
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      // A bootstrap node may be handed the shared list that names itself.
      return id != null && id !== self && !connected.has(id)
    })
    await Promise.all(todo.map(async ma => this.dial(ma, ma.toString())))
  }

  /** Peers we know addresses of but are not connected to, in random order. */
  private async storedCandidates (): Promise<PeerInfo[]> {
    const connected = this.connectedPeers()
    const self = this.components.peerId
    const peers = await this.components.peerStore.all({
      filters: [p => !p.id.equals(self) && p.addresses.length > 0 && !connected.has(p.id.toString()) && !this.recentlyFailed(p.id.toString())]
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
      if (this.components.dht != null) {
        for await (const ev of this.components.dht.getClosestPeers(key, { signal })) {
          if (ev.name === 'PEER_RESPONSE') ev.closer.forEach(consider)
          else if (ev.name === 'FINAL_PEER') consider(ev.peer)
          if (enough.signal.aborted) break
        }
      } else {
        for await (const info of this.components.peerRouting.getClosestPeers(key, { signal })) {
          consider(info)
          if (enough.signal.aborted) break
        }
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
        await this.dial(peer.id, peer.id.toString())
      }))
    }
  }

  private async dial (target: PeerId | Multiaddr, name: string): Promise<void> {
    if (this.controller == null) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.cfg.dialTimeoutMs)])
    try {
      await this.components.connectionManager.openConnection(target, { signal })
    } catch (err) {
      this.failedAt.set(name, Date.now())
      this.log('dial %s failed - %e', name, err)
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
