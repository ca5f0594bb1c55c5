/**
 * What an operator sees of the node's place on the network: how strangers
 * can reach it (public, private behind a NAT, or unknown yet), the relay it
 * is reachable through, whether it relays for others, the rendezvous on the
 * public DHT, and per peer whether the link is direct or relayed. Read by
 * `status`, `peers`, the dashboard and `start`'s one line.
 */
import { isLoopback, isPrivate } from '@libp2p/utils'
import type { Connection } from '@libp2p/interface'
import { HUBS_NAMESPACE } from '../protocol/index.ts'
import { shortPeer } from './control/format.ts'
import type { SwarmLibp2p } from './libp2p.ts'
import { classifyReachability, linkOf, relaysOf, type Link, type Reachability, type ReachabilityState } from './reachability/index.ts'
import type { NamespaceState, RendezvousEvents } from './rendezvous/index.ts'

export interface NetworkState {
  /** public: strangers can dial us; private: only through a relay or when we dial; unknown: AutoNAT has not answered yet. */
  reachability: Reachability
  /** A loopback/LAN swarm: no NAT traversal, peers on this network dial us directly. */
  local: boolean
  publicAddrs: string[]
  /** The relays we are reachable through, and our addresses there. */
  relays: string[]
  relayAddrs: string[]
  /** We relay for nodes behind NATs, holding this many reservations. */
  relaying: boolean
  reservations: number
  /** Swarm members we hold a direct link to (the peer exchange's count), and every peer we are connected to. */
  members: number
  connected: number
  /** Rendezvous on the public Amino DHT (public swarms), with our Amino mode. */
  amino: { mode: 'client' | 'server', namespaces: NamespaceState[] } | null
  /** Every connected peer's best link: direct or relayed (through whom), and the transport. */
  links: Array<{ peer: string } & Link>
}

export function networkState (node: SwarmLibp2p): NetworkState {
  const services = node.services
  const r = services.reachability?.state()
  const addrs = node.getMultiaddrs()
  const relayAddrs = addrs.filter(ma => ma.getComponents().some(c => c.name === 'p2p-circuit'))
  // Without NAT traversal (a local swarm) nothing verifies addresses: what we listen on is what we are.
  const reachability = r?.reachability ?? classifyReachability(addrs.map(multiaddr => ({ multiaddr, verified: true, expires: 0 })), ma => isPrivate(ma) || isLoopback(ma))
  return {
    reachability,
    local: services.reachability == null,
    publicAddrs: r?.publicAddrs ?? addrs.filter(ma => !relayAddrs.includes(ma) && !isPrivate(ma) && !isLoopback(ma)).map(String),
    relays: r?.relays ?? relaysOf(relayAddrs),
    relayAddrs: relayAddrs.map(String),
    relaying: r?.relaying ?? false,
    reservations: r?.reservations ?? 0,
    members: services.peerExchange.connectedPeers().size,
    connected: node.getPeers().length,
    amino: services.amino != null && services.rendezvous != null
      ? { mode: services.amino.getMode(), namespaces: services.rendezvous.status() }
      : null,
    links: [...peerLinks(node)].map(([peer, link]) => ({ peer, ...link }))
  }
}

/** The best link to each connected peer: a direct one over a relayed one. */
export function peerLinks (node: SwarmLibp2p): Map<string, Link> {
  const links = new Map<string, Link>()
  for (const c of node.getConnections()) {
    if (c.status !== 'open') continue
    const peer = c.remotePeer.toString()
    const link = linkOf(c)
    const had = links.get(peer)
    if (had == null || (had.kind === 'relayed' && link.kind === 'direct')) links.set(peer, link)
  }
  return links
}

/** One line: how this node is reachable. */
export function reachabilityLine (s: Pick<NetworkState, 'reachability' | 'local' | 'publicAddrs' | 'relays' | 'relaying' | 'reservations'>): string {
  if (s.local) return 'reachable: on this LAN/loopback only (local swarm: no NAT traversal)'
  const relaying = s.relaying ? `; relaying for nodes behind NATs (${s.reservations} reservation${s.reservations === 1 ? '' : 's'})` : ''
  switch (s.reachability) {
    case 'public':
      return `reachable: public at ${s.publicAddrs[0] ?? '?'}${s.publicAddrs.length > 1 ? ` (+${s.publicAddrs.length - 1})` : ''}${relaying}`
    case 'private':
      return s.relays.length > 0
        ? `reachable: private (behind a NAT), through relay ${s.relays.map(shortPeer).join(', ')}${relaying}`
        : `reachable: private (behind a NAT): looking for a relay; peers we dial still reach us${relaying}`
    default:
      return `reachable: unknown yet (AutoNAT is checking our public address)${relaying}`
  }
}

/** `status`'s line: reachability, then members and rendezvous. */
export function networkLine (s: NetworkState): string {
  const relayed = s.links.filter(l => l.kind === 'relayed').length
  const parts = [
    reachabilityLine(s).replace(/^reachable: /, ''),
    `${s.members} member${s.members === 1 ? '' : 's'} linked directly`,
    `links: ${s.links.length - relayed} direct, ${relayed} relayed`
  ]
  if (s.amino != null) {
    const swarm = s.amino.namespaces.filter(ns => ns.namespace !== HUBS_NAMESPACE)
    const found = swarm.reduce((n, ns) => Math.max(n, ns.providers), 0)
    const hubs = s.amino.namespaces.find(ns => ns.namespace === HUBS_NAMESPACE)?.providers ?? 0
    parts.push(`rendezvous on the public DHT (${s.amino.mode} mode): ${swarm.some(ns => ns.providedAt != null) ? 'announced' : 'not announced yet'}, ${found} other node${found === 1 ? '' : 's'} and ${hubs} hub${hubs === 1 ? '' : 's'} found`)
  }
  return parts.join(' · ')
}

/** "direct tcp" or "relayed tcp via …abcd1234". */
export function linkText (l: Link | undefined): string {
  if (l == null) return '-'
  return l.kind === 'direct' ? `direct ${l.transport}` : `relayed ${l.transport}${l.relay != null ? ` via ${shortPeer(l.relay)}` : ''}`
}

type EventSink = { event: (type: string, data: Record<string, unknown>, text: string) => void }

/**
 * Prints the network's news as it happens: reachability changes (one line
 * each), rendezvous announcements and finds, and links going relayed or
 * direct (DCUtR's upgrade). Returns the function that stops it.
 */
export function reportNetwork (node: SwarmLibp2p, out: EventSink): () => void {
  const { reachability, rendezvous } = node.services
  const onReach = (e: CustomEvent<ReachabilityState>): void => {
    const s = e.detail
    out.event('reachability', { reachability: s.reachability, publicAddrs: s.publicAddrs, relays: s.relays, relaying: s.relaying }, reachabilityLine({ ...s, local: false }))
  }
  const onProvided = (e: RendezvousEvents['rendezvous:provided']): void => {
    out.event('rendezvous', { op: 'provided', ...e.detail }, `rendezvous: announced on the public DHT (${e.detail.peers} peer${e.detail.peers === 1 ? '' : 's'} took it)`)
  }
  const onLookup = (e: RendezvousEvents['rendezvous:lookup']): void => {
    const d = e.detail
    const what = d.namespace === HUBS_NAMESPACE ? `swarm-node hub${d.providers === 1 ? '' : 's'}` : `other node${d.providers === 1 ? '' : 's'} of this swarm`
    out.event('rendezvous', { op: 'lookup', ...d }, `rendezvous: ${d.providers} ${what} on the public DHT; dialled ${d.dialled}, linked ${d.connected}`)
  }
  const onError = (e: RendezvousEvents['rendezvous:error']): void => {
    const message = `rendezvous ${e.detail.op} failed: ${e.detail.message}`
    out.event('log', { level: 'warn', message }, `warning: ${message}`)
  }
  const onOpen = (e: CustomEvent<Connection>): void => {
    const conn = e.detail
    const peer = conn.remotePeer.toString()
    const link = linkOf(conn)
    if (link.kind === 'relayed') {
      out.event('link', { peer, ...link }, `link to ${shortPeer(peer)}: ${linkText(link)} (limited: gossip and sync wait for a direct link)`)
    } else if (node.getConnections(conn.remotePeer).some(c => c !== conn && linkOf(c).kind === 'relayed')) {
      out.event('link', { peer, ...link, upgraded: true }, `link to ${shortPeer(peer)}: ${linkText(link)} now (was relayed)`)
    }
  }
  reachability?.addEventListener('reachability:change', onReach)
  rendezvous?.addEventListener('rendezvous:provided', onProvided)
  rendezvous?.addEventListener('rendezvous:lookup', onLookup)
  rendezvous?.addEventListener('rendezvous:error', onError)
  node.addEventListener('connection:open', onOpen)
  return () => {
    reachability?.removeEventListener('reachability:change', onReach)
    rendezvous?.removeEventListener('rendezvous:provided', onProvided)
    rendezvous?.removeEventListener('rendezvous:lookup', onLookup)
    rendezvous?.removeEventListener('rendezvous:error', onError)
    node.removeEventListener('connection:open', onOpen)
  }
}
