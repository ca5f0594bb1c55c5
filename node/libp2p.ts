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
  Libp2p, PrivateKey, ConnectionGater
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KAD_PROTOCOL } from '../protocol/topics.ts'
import { PeerExchange, peerExchange, type PeerExchangeInit } from './peer-exchange.ts'
import {
  DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DIAL_TIMEOUT_MS, GOSSIP_D, GOSSIP_DHI, GOSSIP_DLAZY, GOSSIP_DLO,
  GOSSIP_DOUT, GOSSIP_DSCORE, GOSSIP_HEARTBEAT_MS, GOSSIP_MAX_MESSAGE_BYTES, LOCAL_INBOUND_CONNECTION_THRESHOLD,
  SCORE_FIRST_DELIVERY_CAP, SCORE_FIRST_DELIVERY_DECAY, SCORE_FIRST_DELIVERY_WEIGHT, SCORE_INVALID_DECAY,
  SCORE_INVALID_WEIGHT, SCORE_TIME_IN_MESH_CAP, SCORE_TIME_IN_MESH_WEIGHT
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
  /**
   * Application score per peer id, weighted 10 by GossipSub: our trust in what
   * the peer published. Negative enough, the peer falls below the gossip and
   * publish thresholds. Read on every score computation, so it may change.
   */
  appSpecificScore?: (peerId: string) => number
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
        // One RPC of a peer at a time, one message of an RPC at a time: a flood is read only as
        // fast as it is validated (yamux's window pushes back on the sender) instead of piling
        // up as concurrent work that starves timers, the control API and other peers.
        awaitRpcHandler: true,
        awaitRpcMessageHandler: true,
        D: GOSSIP_D, Dlo: GOSSIP_DLO, Dhi: GOSSIP_DHI, Dout: GOSSIP_DOUT, Dscore: GOSSIP_DSCORE, Dlazy: GOSSIP_DLAZY,
        heartbeatInterval: GOSSIP_HEARTBEAT_MS,
        maxInboundDataLength: opts.gossip?.maxMessageBytes ?? GOSSIP_MAX_MESSAGE_BYTES,
        scoreParams: {
          // Every member of a local swarm shares 127.0.0.1: without this the
          // colocation penalty graylists them all beyond 10 peers.
          IPColocationFactorWhitelist: new Set(local ? ['127.0.0.1', '::1'] : []),
          ...(opts.appSpecificScore != null ? { appSpecificScore: opts.appSpecificScore } : {})
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
