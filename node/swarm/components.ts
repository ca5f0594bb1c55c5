/**
 * What the swarm's components need from the libp2p node, named as js-libp2p
 * names its components (registrar, connectionManager, events, peerStore,
 * logger) plus the GossipSub and kad-dht services, the way our peer-exchange
 * service takes `dht`. A component is built `factory(init)(components)`;
 * `swarmComponents(node)` makes the components of a running node, so the
 * swarm service (which needs the project, known only after the node runs)
 * plugs in after `createLibp2p` the same way a service plugs in before.
 *
 * @example
 * ```ts
 * const heartbeat = heartbeat({ intervalMs: 30_000, beat })(swarmComponents(node))
 * await heartbeat.start()
 * await heartbeat.stop()
 * ```
 */
import type { GossipSub } from '@libp2p/gossipsub'
import type {
  AbortOptions, ComponentLogger, Connection, Libp2pEvents, PeerId, PeerStore, Stream, StreamHandler, StreamHandlerOptions,
  TypedEventTarget
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { SwarmLibp2p } from '../libp2p.ts'

export interface SwarmComponents {
  peerId: PeerId
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  peerStore: PeerStore
  registrar: {
    handle: (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions) => Promise<void>
    unhandle: (protocol: string, options?: AbortOptions) => Promise<void>
  }
  connectionManager: {
    getConnections: () => Connection[]
    openStream: (peer: PeerId | Multiaddr, protocol: string, options?: AbortOptions) => Promise<Stream>
    closeConnections: (peer: PeerId, options?: AbortOptions) => Promise<void>
  }
  pubsub: GossipSub
  dht: KadDHT
}

/** What every component holding resources offers (js-libp2p's Startable, async where it needs to be). */
export interface Component {
  start: () => Promise<void> | void
  stop: () => Promise<void> | void
  isStarted: () => boolean
}

/** The components of a running node. */
export function swarmComponents (node: SwarmLibp2p): SwarmComponents {
  return {
    peerId: node.peerId,
    logger: node.logger,
    events: node,
    peerStore: node.peerStore,
    registrar: {
      handle: async (protocol, handler, options) => { await node.handle(protocol, handler, options) },
      unhandle: async (protocol, options) => { await node.unhandle(protocol, options) }
    },
    connectionManager: {
      getConnections: () => node.getConnections(),
      openStream: async (peer, protocol, options) => await node.dialProtocol(peer, protocol, options),
      closeConnections: async (peer, options) => { await node.hangUp(peer, options) }
    },
    pubsub: node.services.pubsub,
    dht: node.services.dht
  }
}

/** The request/response helpers of node/streams.ts over components. */
export function streamNode (c: SwarmComponents): { handle: SwarmComponents['registrar']['handle'], dialProtocol: SwarmComponents['connectionManager']['openStream'], logger: ComponentLogger } {
  return { handle: c.registrar.handle, dialProtocol: c.connectionManager.openStream, logger: c.logger }
}

/** Connected peers, each once. */
export function connectedPeers (c: Pick<SwarmComponents, 'connectionManager'>): PeerId[] {
  const seen = new Map<string, PeerId>()
  for (const conn of c.connectionManager.getConnections()) if (conn.status === 'open') seen.set(conn.remotePeer.toString(), conn.remotePeer)
  return [...seen.values()]
}
