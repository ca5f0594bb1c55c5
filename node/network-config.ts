/**
 * From command-line flags to libp2p options (pure): listen addresses, which
 * bootstrap nodes to dial, mDNS, and whether this is a loopback/LAN swarm.
 * A private swarm dials only the bootstrap addresses it was given.
 */
import { PUBLIC_BOOTSTRAP } from '../bootstrap/list.ts'
import { DEFAULT_TCP_PORT } from './constants.ts'

export interface NetworkFlags {
  listen?: string[]
  port?: number
  bootstrap?: string[]
  swarmKey?: string
  mdns?: boolean
  /** Force loopback/LAN mode (else: on when every address is loopback or private). */
  local?: boolean
}

export interface NetworkPlan {
  listen: string[]
  bootstrap: string[]
  private: boolean
  mdns: boolean
  local: boolean
}

const LOOPBACK_OR_PRIVATE = /^\/ip4\/(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)|^\/ip6\/(::1|f[cd])/

export function planNetwork (f: NetworkFlags, publicList: readonly string[] = PUBLIC_BOOTSTRAP): NetworkPlan {
  const port = f.port ?? DEFAULT_TCP_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${port}`)
  const listen = f.listen != null && f.listen.length > 0 ? f.listen : [`/ip4/0.0.0.0/tcp/${port}`]
  const isPrivate = f.swarmKey != null
  // A private swarm must never reveal itself to the public bootstrap nodes.
  const bootstrap = [...new Set([...(f.bootstrap ?? []), ...(isPrivate ? [] : publicList)])]
  const local = f.local ?? (listen.every(a => LOOPBACK_OR_PRIVATE.test(a)) && bootstrap.every(a => LOOPBACK_OR_PRIVATE.test(a)))
  return {
    listen,
    bootstrap,
    private: isPrivate,
    // mDNS announces us to the LAN: on by default in a public swarm only.
    mdns: f.mdns ?? !isPrivate,
    local
  }
}
