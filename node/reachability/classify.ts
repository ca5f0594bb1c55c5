/**
 * How reachable a node is and what kind each link is, from what libp2p
 * knows (pure: no I/O, so it is tested without a network).
 *
 * - public: some public address of ours was confirmed dialable (AutoNAT, or a
 *   UPnP mapping AutoNAT then confirmed); strangers can dial us.
 * - private: we have no public address to offer, or every one we had failed
 *   AutoNAT's dial-back: only peers we dial, or who come through a relay, reach us.
 * - unknown: a public address awaits AutoNAT's verdict.
 */
import type { Multiaddr } from '@multiformats/multiaddr'

export type Reachability = 'public' | 'private' | 'unknown'

/** One of our addresses as libp2p's address manager describes it. */
export interface OwnAddress {
  multiaddr: Multiaddr
  verified: boolean
  /** When the verdict (verified or refuted) expires; 0 or past: never tested. */
  expires: number
}

export type LinkKind = 'direct' | 'relayed'

export interface Link {
  kind: LinkKind
  /** The transport the bytes travel on: tcp, quic, websockets, webrtc, memory... (to the relay, when relayed). */
  transport: string
  /** Limited links (relayed) close after a time or data limit; gossip and sync wait for a direct one. */
  limited: boolean
  /** The relay's peer id, when relayed. */
  relay?: string
}

function isRelayed (ma: Multiaddr): boolean {
  return ma.getComponents().some(c => c.name === 'p2p-circuit')
}

/** An address strangers on the internet could dial, if it is really ours: not private, loopback, link-local or relayed. */
export function isPublicCandidate (ma: Multiaddr, isPrivate: (ma: Multiaddr) => boolean): boolean {
  return !isRelayed(ma) && !isPrivate(ma)
}

export function classifyReachability (addrs: OwnAddress[], isPrivate: (ma: Multiaddr) => boolean, now = Date.now()): Reachability {
  const candidates = addrs.filter(a => isPublicCandidate(a.multiaddr, isPrivate))
  if (candidates.some(a => a.verified)) return 'public'
  // Untested candidates (never checked, or the last verdict expired) are still open questions.
  if (candidates.some(a => a.expires <= now)) return 'unknown'
  return 'private'
}

/** Peer ids of the relays we hold reservations on, from our relay addresses (`.../p2p/<relay>/p2p-circuit`). */
export function relaysOf (addrs: Multiaddr[]): string[] {
  const relays = new Set<string>()
  for (const ma of addrs) {
    const parts = ma.getComponents()
    const at = parts.findIndex(c => c.name === 'p2p-circuit')
    const relay = at > 0 ? parts.slice(0, at).findLast(c => c.name === 'p2p')?.value : undefined
    if (relay != null) relays.add(relay)
  }
  return [...relays]
}

/** What kind of link a connection is, from its remote address and limits. */
export function linkOf (conn: { remoteAddr: Multiaddr, limits?: unknown }): Link {
  const parts = conn.remoteAddr.getComponents()
  const at = parts.findIndex(c => c.name === 'p2p-circuit')
  const outer = at >= 0 ? parts.slice(0, at) : parts
  const names = new Set(outer.map(c => c.name))
  const transport = names.has('quic-v1') || names.has('quic')
    ? 'quic'
    : names.has('webrtc') || names.has('webrtc-direct')
      ? 'webrtc'
      : names.has('ws') || names.has('wss') || names.has('tls')
        ? 'websockets'
        : names.has('memory') ? 'memory' : names.has('tcp') ? 'tcp' : 'unknown'
  if (at < 0) return { kind: 'direct', transport, limited: conn.limits != null }
  const relay = outer.findLast(c => c.name === 'p2p')?.value
  return { kind: 'relayed', transport, limited: conn.limits != null, ...(relay != null ? { relay } : {}) }
}
