/**
 * `swarm-node bootstrap`: a long-running node with a stable identity that
 * trains nothing. It serves the DHT, joins every project topic its peers use
 * (up to a cap) so gossip has a well-connected relay, validates and stores
 * what it relays, and answers `sync` so late joiners catch up through it.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { join } from 'node:path'
import { parseTopic, rendezvousNamespace, topicFor } from '../protocol/index.ts'
import { loadOrCreateIdentity } from '../node/identity.ts'
import { assembleNode } from '../node/assemble.ts'
import { setTopicScoreParams, topicScoreParams } from '../node/libp2p.ts'
import type { NetworkFlags } from '../node/network-config.ts'
import { networkState, reachabilityLine, reportNetwork } from '../node/network-status.ts'
import type { Output } from '../node/output.ts'
import { GossipGate } from '../node/swarm/gossip-check.ts'
import { loadLimits } from '../node/limits-file.ts'
import { serveSwarmProtocols } from '../node/swarm/protocols.ts'
import { SwarmStore } from '../node/swarm/store.ts'

export interface BootstrapOptions extends NetworkFlags {
  maxProjects: number
}

export async function runBootstrap (home: string, opts: BootstrapOptions, out: Output): Promise<number> {
  const identity = await loadOrCreateIdentity(home)
  // A bootstrap node is meant to be reachable: it relays for nodes behind NATs from the start, and
  // announces itself at the hubs' rendezvous so that newcomers find it before any member of their project.
  const { node, plan } = await assembleNode(identity.privateKey, opts, { relay: 'always', hub: true })
  const pubsub = node.services.pubsub
  const stores = new Map<string, SwarmStore>()
  const limits = await loadLimits(home)

  const follow = async (project: string): Promise<void> => {
    if (stores.has(project) || stores.size >= opts.maxProjects) return
    const store = await SwarmStore.open(join(home, 'store', project), { self: identity.peerId, limits: limits.store })
    if (stores.has(project)) { store.close(); return }
    stores.set(project, store)
    for (const w of store.warnings) out.event('log', { level: 'warn', message: w }, `warning: store: ${w}`)
    const topic = topicFor(project)
    const gate = new GossipGate({
      project,
      limits: limits.gossip,
      known: author => store.knows(author),
      onNote: message => out.event('log', { level: 'info', message }, message),
      onFlood: peer => { void node.hangUp(peerIdFromString(peer)).catch(() => {}) }
    })
    pubsub.topicValidators.set(topic, async (peer, msg) => {
      const v = await gate.check(peer.toString(), msg)
      if (!v.ok) {
        if (v.reject && v.report !== false) out.event('swarm:rejected', { from: v.from, reason: v.reason }, `✗ rejected gossip from ${v.from.slice(-8)}: ${v.reason}`)
        return v.reject ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      return await store.add(v.message) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
    })
    try { setTopicScoreParams(pubsub, topic, topicScoreParams()) } catch {}
    pubsub.subscribe(topic)
    // Findable by the project's rendezvous from now on (public swarms).
    node.services.rendezvous?.add(rendezvousNamespace(project, plan.swarmName))
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
  const net = networkState(node)
  out.event('listening', { peerId: identity.peerId, addrs, private: plan.private, amino: plan.amino != null, reachability: net.reachability },
    `bootstrap node ${identity.peerId}${plan.private ? ' (private swarm)' : ''}\ngive peers one of:\n${addrs.map(a => `  --bootstrap ${a}`).join('\n')}\n${reachabilityLine(net)}`)
  reportNetwork(node, out)

  await new Promise<void>(resolve => {
    const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve() }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await node.stop()
  out.event('stopped', {}, 'stopped')
  return 0
}
