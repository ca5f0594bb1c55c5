/**
 * A libp2p node from command-line network flags, as `start`, `bootstrap` and
 * `leaderboard` build it: the plan (listen, bootstrap, private key, mDNS,
 * local), the DHT's best-record validator and selector, and our trust in
 * peers as GossipSub's application score.
 */
import type { PrivateKey } from '@libp2p/interface'
import { BEST_KEY_PREFIX, selectBestRecord, validateBestRecord, type BestRecord } from '../protocol/index.ts'
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
