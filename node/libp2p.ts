/**
 * The libp2p node of swarm-node: TCP + Noise + Yamux, optionally inside a
 * private network (pnet), with identify, ping, GossipSub (signed messages,
 * peer scoring), the swarm's own kad-dht and a small peer-exchange service that
 * keeps every node linked to several swarm members, not just the bootstrap.
 *
 * Off a loopback/LAN swarm it adds NAT traversal: AutoNAT (v2; v1 as a client) to
 * learn whether strangers can dial us, the circuit relay v2 transport (a node
 * behind a NAT holds a reservation on a reachable peer), DCUtR to turn relayed
 * links direct, UPnP where the router offers it, and a reachability service
 * that ties them together (relay for others once public). A public swarm also
 * joins the IPFS Amino DHT (`/ipfs/kad/1.0.0`, a second kad-dht) to meet its
 * members by rendezvous (`rendezvous/`).
 *
 * What runs over a limited (relayed) link: identify, ping, DCUtR and the
 * content fetch (one small request: see `swarm/protocols.ts`). GossipSub, sync,
 * the leaderboard protocol and both DHTs wait for a direct link; until then a
 * node behind a NAT hears the swarm through the reachable members it dials.
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
import { autoNATv2 } from '@libp2p/autonat-v2'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { gossipsub, StrictSign } from '@libp2p/gossipsub'
import { createTopicScoreParams, validateTopicScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { isLoopback } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import type { GossipSub } from '@libp2p/gossipsub'
import type { TopicScoreParams, PeerScore } from '@libp2p/gossipsub/score'
import type { Identify } from '@libp2p/identify'
import type {
  Libp2p, PrivateKey, ConnectionGater, PeerDiscovery
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KAD_PROTOCOL } from '../protocol/topics.ts'
import { PeerExchange, peerExchange, type PeerExchangeInit } from './peer-exchange.ts'
import { autoNATClient } from './reachability/autonat-client.ts'
import { reachability, type ReachabilityInit, type ReachabilityService } from './reachability/index.ts'
import { AMINO_PROTOCOL, rendezvous, type Rendezvous } from './rendezvous/index.ts'
import {
  AMINO_MAX_CONNECTIONS, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DIAL_TIMEOUT_MS, HUB_MAX_CONNECTIONS, HUB_MAX_PENDING_INBOUND,
  GOSSIP_D, GOSSIP_DHI, GOSSIP_DLAZY, GOSSIP_DLO, GOSSIP_DOUT, GOSSIP_DSCORE, GOSSIP_HEARTBEAT_MS, GOSSIP_IDONTWANT_MIN_BYTES, GOSSIP_MAX_MESSAGE_BYTES, LOCAL_INBOUND_CONNECTION_THRESHOLD,
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
  /** Default 64 (128 with Amino; a hub's is larger). */
  maxConnections?: number
  /** A hub (`swarm-node bootstrap`): everyone dials it; it takes many more connections and handshakes at once. */
  hub?: boolean
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
  /**
   * Join the public Amino DHT through `bootstrap` (maybe none: then only
   * through members that serve it) and meet the swarm by rendezvous on
   * `namespaces`. Public swarms only: a private swarm never touches Amino.
   */
  amino?: { bootstrap: string[], namespaces: string[], lookOnly?: string[], announce?: boolean }
  /** NAT traversal (AutoNAT, circuit relay, DCUtR, reachability); `relay` says when we relay for others. */
  nat?: Pick<ReachabilityInit, 'relay' | 'searchRelay'>
  /** Ask the router to forward our port (UPnP IGD). Needs `nat`. */
  upnp?: boolean
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
  mdns?: PeerDiscovery
  /** The public DHT and rendezvous on it (public swarms). */
  amino?: KadDHT
  rendezvous?: Rendezvous
  /** NAT traversal (every swarm but a loopback/LAN one). */
  autoNAT?: unknown
  autoNATv2?: unknown
  dcutr?: unknown
  reachability?: ReachabilityService
  upnp?: unknown
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
  if (opts.amino != null && opts.swarmKey != null) throw new SwarmConfigError('a private swarm never joins the public Amino DHT')
  parseBootstrap(opts.amino?.bootstrap ?? [])

  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (bootstrapAddrs.length > 0) peerDiscovery.push(bootstrap({ list: bootstrapAddrs.map(a => a.toString()) }))

  return createLibp2p<SwarmServices>({
    start: opts.start ?? true,
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen ?? DEFAULT_LISTEN },
    transports: [tcp(), ...(opts.nat != null ? [circuitRelayTransport()] : [])],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(opts.swarmKey != null ? { connectionProtector: preSharedKey({ psk: opts.swarmKey }) } : {}),
    connectionManager: {
      // An Amino query touches dozens of peers; members are tagged so they are the last to go.
      maxConnections: opts.maxConnections ?? (opts.hub === true ? HUB_MAX_CONNECTIONS : opts.amino != null ? AMINO_MAX_CONNECTIONS : DEFAULT_MAX_CONNECTIONS),
      ...(opts.hub === true ? { maxIncomingPendingConnections: HUB_MAX_PENDING_INBOUND } : {}),
      dialTimeout: DIAL_TIMEOUT_MS,
      ...(local ? { inboundConnectionThreshold: LOCAL_INBOUND_CONNECTION_THRESHOLD } : {})
    },
    connectionGater: connectionGater(local),
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping(),
      // GossipSub keeps off limited (relayed) links: a mesh link that dies at the relay's limit loses messages.
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
        idontwantMinDataSize: GOSSIP_IDONTWANT_MIN_BYTES,
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
      // A service, not a peerDiscovery entry, so peer exchange can tell LAN finds from Amino's.
      ...(useMdns ? { mdns: mdns() } : {}),
      peerExchange: peerExchange({ ...opts.peerExchange, bootstrap: bootstrapAddrs }),
      ...(opts.amino != null ? aminoServices(opts.amino, local) : {}),
      ...(opts.nat != null ? natServices(opts.nat, opts.upnp === true) : {})
    }
  })
}

/**
 * The public DHT beside our own: its own protocol, logs and datastore keys.
 * Client mode until AutoNAT confirms a public address (kad-dht switches
 * itself when `clientMode` is unset): Amino wants servers others can dial.
 * Its validators are Amino's (`/pk`, `/ipns`): swarm records never go there.
 */
function aminoServices (amino: NonNullable<SwarmLibp2pOptions['amino']>, local: boolean): Pick<ServiceFactories, 'amino' | 'rendezvous'> {
  return {
    amino: kadDHT({
      protocol: AMINO_PROTOCOL,
      peerInfoMapper: local ? passthroughMapper : removePrivateAddressesMapper,
      logPrefix: 'libp2p:amino',
      datastorePrefix: '/amino',
      metricsPrefix: 'libp2p_amino'
    }),
    rendezvous: rendezvous({ bootstrap: amino.bootstrap, namespaces: amino.namespaces, lookOnly: amino.lookOnly, announce: amino.announce, local })
  }
}

function natServices (nat: NonNullable<SwarmLibp2pOptions['nat']>, upnp: boolean): Pick<ServiceFactories, 'autoNAT' | 'autoNATv2' | 'dcutr' | 'reachability' | 'upnp'> {
  return {
    // v2, client and server; v1 as a client only, for the many public peers that only speak v1 (see autonat-client.ts).
    autoNAT: autoNATClient(),
    autoNATv2: autoNATv2(),
    dcutr: dcutr(),
    reachability: reachability(nat),
    ...(upnp ? { upnp: uPnPNAT() } : {})
  }
}

type ServiceFactories = NonNullable<Libp2pOptions<SwarmServices>['services']>

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
