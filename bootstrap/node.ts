/**
 * `swarm-node bootstrap`: a long-running node with a stable identity that
 * trains nothing. It serves the DHT, joins every project topic its peers use
 * (up to a cap) so gossip has a well-connected relay, validates and stores
 * what it relays, and answers `sync` so late joiners catch up through it.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { join } from 'node:path'
import { BEST_KEY_PREFIX, parseTopic, selectBestRecord, topicFor, validateBestRecord } from '../protocol/index.ts'
import { loadOrCreateIdentity } from '../node/identity.ts'
import { createSwarmLibp2p, setTopicScoreParams, topicScoreParams } from '../node/libp2p.ts'
import { planNetwork, type NetworkFlags } from '../node/network-config.ts'
import type { Output } from '../node/output.ts'
import { readSwarmKey } from '../node/swarm-key.ts'
import { checkGossip } from '../node/swarm/gossip-check.ts'
import { serveSwarmProtocols } from '../node/swarm/protocols.ts'
import { SwarmStore } from '../node/swarm/store.ts'

export interface BootstrapOptions extends NetworkFlags {
  maxProjects: number
}

export async function runBootstrap (home: string, opts: BootstrapOptions, out: Output): Promise<number> {
  const identity = await loadOrCreateIdentity(home)
  const plan = planNetwork(opts)
  const swarmKey = opts.swarmKey != null ? await readSwarmKey(opts.swarmKey) : undefined
  const node = await createSwarmLibp2p({
    privateKey: identity.privateKey,
    listen: plan.listen,
    bootstrap: plan.bootstrap,
    swarmKey,
    mdns: plan.mdns,
    local: plan.local,
    dhtValidators: { [BEST_KEY_PREFIX]: async (key, value) => { await validateBestRecord(key, value) } },
    dhtSelectors: { [BEST_KEY_PREFIX]: selectBestRecord }
  })
  const pubsub = node.services.pubsub
  const stores = new Map<string, SwarmStore>()

  const follow = async (project: string): Promise<void> => {
    if (stores.has(project) || stores.size >= opts.maxProjects) return
    const store = await SwarmStore.open(join(home, 'store', project))
    if (stores.has(project)) return
    stores.set(project, store)
    const topic = topicFor(project)
    pubsub.topicValidators.set(topic, async (_peer, msg) => {
      const v = await checkGossip(msg, project)
      if (!v.ok) {
        if (v.reject) out.event('swarm:rejected', { from: v.from, reason: v.reason }, `✗ rejected gossip from ${v.from.slice(-8)}: ${v.reason}`)
        return v.reject ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      return await store.add(v.message) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
    })
    try { setTopicScoreParams(pubsub, topic, topicScoreParams()) } catch {}
    pubsub.subscribe(topic)
    out.event('follow', { project }, `following project ${project.slice(0, 12)}`)
  }

  // Join the topics our peers join: a bootstrap node serves whatever projects its swarm runs.
  pubsub.addEventListener('subscription-change', evt => {
    for (const sub of evt.detail.subscriptions) {
      if (!sub.subscribe) continue
      let project: string
      try { project = parseTopic(sub.topic) } catch { continue }
      void follow(project).catch(err => out.event('log', { level: 'warn', message: err.message }, `warning: ${err.message}`))
    }
  })
  await serveSwarmProtocols(node, p => stores.get(p))

  const addrs = node.getMultiaddrs().map(a => a.toString())
  out.event('listening', { peerId: identity.peerId, addrs, private: plan.private },
    `bootstrap node ${identity.peerId}${plan.private ? ' (private swarm)' : ''}\ngive peers one of:\n${addrs.map(a => `  --bootstrap ${a}`).join('\n')}`)

  await new Promise<void>(resolve => {
    const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve() }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await node.stop()
  out.event('stopped', {}, 'stopped')
  return 0
}
