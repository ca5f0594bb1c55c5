/**
 * From command-line flags to libp2p options (pure): listen addresses, which
 * bootstrap nodes to dial, whether (and through whom) the node joins the
 * public Amino DHT for rendezvous, NAT traversal, UPnP, mDNS, and whether this
 * is a loopback/LAN swarm.
 *
 * Who dials the public Amino peers, decided here and nowhere else: only a
 * public, non-local node. A private swarm (`--swarm-key`), a local one
 * (`--local`, or every address loopback/private) and `--offline` (which never
 * builds a network plan) never do; a process with `SWARM_NODE_PUBLIC_BOOTSTRAP`
 * set uses that list instead (empty: none), and `--amino-bootstrap` replaces
 * the list outright (tests point it at stand-ins).
 */
import { multiaddr } from '@multiformats/multiaddr'
import { PUBLIC_BOOTSTRAP, PUBLIC_BOOTSTRAP_ENV } from '../bootstrap/list.ts'
import { checkSwarmName } from '../protocol/index.ts'
import { DEFAULT_TCP_PORT } from './constants.ts'

export interface NetworkFlags {
  listen?: string[]
  port?: number
  bootstrap?: string[]
  swarmKey?: string
  mdns?: boolean
  /** Force loopback/LAN mode (else: on when every address is loopback or private). */
  local?: boolean
  /** Amino DHT bootstrap peers instead of the public list (test stand-ins, a private Amino mirror). */
  aminoBootstrap?: string[]
  /** A named public swarm: its own rendezvous among the project's nodes. */
  swarm?: string
  /** Ask the home router (UPnP IGD) to forward our port; default on in a public or private non-local swarm. */
  upnp?: boolean
}

export interface NetworkPlan {
  listen: string[]
  /** Swarm members to dial (`--bootstrap`); never the Amino peers. */
  bootstrap: string[]
  private: boolean
  mdns: boolean
  local: boolean
  /** Amino bootstrap peers when this node joins the public DHT for rendezvous (maybe none), else null: Amino stays off. */
  amino: string[] | null
  /** Named public swarm (rendezvous namespace), if any. */
  swarmName?: string
  /** AutoNAT, circuit relay and DCUtR: off on loopback/LAN swarms, where nobody is behind a NAT from anybody. */
  nat: boolean
  upnp: boolean
}

export class NetworkConfigError extends Error {
  override readonly name = 'NetworkConfigError'
  /** A usage error: the CLI exits 2. */
  readonly exitCode = 2
}

const LOOPBACK_OR_PRIVATE = /^\/ip4\/(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)|^\/ip6\/(::1|f[cd])/

/**
 * The public list this process may use: `SWARM_NODE_PUBLIC_BOOTSTRAP` when set
 * (whitespace- or comma-separated multiaddrs; empty: none), else the built-in list.
 */
export function publicBootstrapList (env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const raw = env[PUBLIC_BOOTSTRAP_ENV]
  if (raw == null) return PUBLIC_BOOTSTRAP
  return raw.split(/[\s,]+/).filter(s => s !== '')
}

export function planNetwork (f: NetworkFlags, publicList: readonly string[] = publicBootstrapList()): NetworkPlan {
  const port = f.port ?? DEFAULT_TCP_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NetworkConfigError(`--port must be 0..65535, got ${port}`)
  const listen = f.listen != null && f.listen.length > 0 ? f.listen : [`/ip4/0.0.0.0/tcp/${port}`]
  const isPrivate = f.swarmKey != null
  const explicitAmino = f.aminoBootstrap != null && f.aminoBootstrap.length > 0
  // A private swarm must never reveal itself to the public DHT.
  if (isPrivate && explicitAmino) throw new NetworkConfigError('--amino-bootstrap joins the public DHT: a private swarm (--swarm-key) never does')
  if (isPrivate && f.swarm != null) throw new NetworkConfigError('--swarm names a public swarm: a private swarm is chosen by its key (--swarm-key)')
  let swarmName: string | undefined
  if (f.swarm != null) {
    try { swarmName = checkSwarmName(f.swarm, '--swarm') } catch (err) { throw new NetworkConfigError((err as Error).message) }
  }
  for (const a of f.aminoBootstrap ?? []) checkPeerAddr(a, '--amino-bootstrap')
  const bootstrap = [...new Set(f.bootstrap ?? [])]
  const local = f.local ?? (listen.every(a => LOOPBACK_OR_PRIVATE.test(a)) && bootstrap.every(a => LOOPBACK_OR_PRIVATE.test(a)))
  // Stand-ins named on the command line are dialled even by a local node: that is asking for it.
  const amino = explicitAmino ? [...new Set(f.aminoBootstrap)] : (isPrivate || local ? null : [...publicList])
  return {
    listen,
    bootstrap,
    private: isPrivate,
    // mDNS announces us to the LAN: on by default in a public swarm only.
    mdns: f.mdns ?? !isPrivate,
    local,
    amino,
    ...(swarmName != null ? { swarmName } : {}),
    nat: !local,
    upnp: !local && (f.upnp ?? true)
  }
}

function checkPeerAddr (addr: string, flag: string): void {
  let ok = false
  try { ok = multiaddr(addr).getComponents().some(c => c.name === 'p2p') } catch {}
  if (!ok) throw new NetworkConfigError(`${flag} ${addr}: expected a multiaddr ending in /p2p/<peer id>`)
}
