/**
 * A libp2p node from command-line network flags, as `start`, `bootstrap` and
 * `leaderboard` build it: the plan (listen, bootstrap, private key, mDNS,
 * local, Amino and NAT traversal), rendezvous on the projects it serves, the
 * DHT's best-record validator and selector, and our trust in peers as
 * GossipSub's application score.
 */
import type { PrivateKey } from '@libp2p/interface'
import { BEST_KEY_PREFIX, HUBS_NAMESPACE, rendezvousNamespace, selectBestRecord, validateBestRecord, type BestRecord } from '../protocol/index.ts'
import { createSwarmLibp2p, type SwarmLibp2p } from './libp2p.ts'
import { planNetwork, type NetworkFlags, type NetworkPlan } from './network-config.ts'
import { readSwarmKey } from './swarm-key.ts'

export interface AssembleOptions {
  /** Our trust in a peer (read on every score computation; may change). */
  trust?: (peerId: string) => number
  /**
   * Whether this node stores, returns and counts a valid best record (false:
   * the DHT treats it as invalid here). A node refuses records of peers it
   * caught lying, so an honest overwrite of them sticks on honest nodes.
   */
  acceptBest?: (record: BestRecord) => boolean
  /** Projects whose members we meet by rendezvous (public swarms); a bootstrap node adds them as it follows them. */
  projects?: string[]
  /** Announce ourselves at the rendezvous (default true); a short-lived query node only looks. */
  announce?: boolean
  /** When we relay for nodes behind NATs (default: once AutoNAT says we are public). */
  relay?: 'always' | 'when-public' | 'never'
  /** A hub (`swarm-node bootstrap`): announced at the hubs' rendezvous; everyone else only looks there. */
  hub?: boolean
}

export async function assembleNode (privateKey: PrivateKey, flags: NetworkFlags, opts: AssembleOptions = {}): Promise<{ node: SwarmLibp2p, plan: NetworkPlan }> {
  const plan = planNetwork(flags)
  const swarmKey = flags.swarmKey != null ? await readSwarmKey(flags.swarmKey) : undefined
  const trust = opts.trust
  const node = await createSwarmLibp2p({
    privateKey,
    listen: plan.listen,
    bootstrap: plan.bootstrap,
    swarmKey,
    mdns: plan.mdns,
    local: plan.local,
    ...(plan.amino != null
      ? {
          amino: {
            bootstrap: plan.amino,
            namespaces: [...(opts.projects ?? []).map(p => rendezvousNamespace(p, plan.swarmName)), ...(opts.hub === true ? [HUBS_NAMESPACE] : [])],
            lookOnly: opts.hub === true ? [] : [HUBS_NAMESPACE],
            announce: opts.announce
          }
        }
      : {}),
    ...(plan.nat ? { nat: { relay: opts.relay ?? 'when-public', searchRelay: opts.announce !== false }, upnp: plan.upnp && opts.announce !== false } : {}),
    hub: opts.hub === true,
    dhtValidators: {
      [BEST_KEY_PREFIX]: async (key, value) => {
        const record = await validateBestRecord(key, value)
        if (opts.acceptBest?.(record) === false) throw new Error('a best record of a peer this node caught lying')
      }
    },
    dhtSelectors: { [BEST_KEY_PREFIX]: selectBestRecord },
    // Positive trust earns little; a liar sinks below GossipSub's gossip threshold.
    ...(trust != null ? { appSpecificScore: (peer: string) => Math.min(trust(peer), 1) } : {})
  })
  return { node, plan }
}
