/**
 * The swarm service's components on a real libp2p node (loopback, no peers):
 * each `start` takes what it needs and each `stop` gives all of it back:
 * protocols unhandled, the topic's validator removed and unsubscribed,
 * listeners and timers gone, so a service can be stopped and started again.
 */
import '../node/polyfills.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { createSwarmLibp2p } from '../node/libp2p.ts'
import { swarmComponents } from '../node/swarm/components.ts'
import { swarmService } from '../node/swarm/service.ts'
import { SwarmStore } from '../node/swarm/store.ts'
import { FETCH_PROTOCOL, LEADERBOARD_PROTOCOL, SYNC_PROTOCOL, contentHash, topicFor } from '../protocol/index.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

describe('swarm components', () => {
  it('undo on stop everything start did, and start again', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const node = await createSwarmLibp2p({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], local: true, mdns: false })
    try {
      const project = 'c'.repeat(64)
      const store = await SwarmStore.open(await tempDir('components'))
      const events: string[] = []
      const service = swarmService({
        privateKey, peerId: node.peerId.toString(), project: { id: project, margin: 0.02, timeoutS: 20, editable: ['train.py'] }, track: 'cpu',
        hardware: { cpu: 'x', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }, store, adopt: true,
        initial: { baseline: { content: contentHash({ 'train.py': 'a' }), value: 1.2, files: { 'train.py': 'a' } }, tried: new Set(), experiments: 1, kept: 0, largestGain: 0, margin: 0.02, lineage: new Set(), stacked: new Set() },
        onEvent: e => events.push(e.type), statusIntervalMs: 50, bestRefreshMs: 50
      })(swarmComponents(node))
      const swarmProtocols = [FETCH_PROTOCOL, SYNC_PROTOCOL, LEADERBOARD_PROTOCOL]
      const topic = topicFor(project)
      const listeners = (): number => node.listenerCount('connection:open') + node.listenerCount('peer:identify')

      const before = listeners()
      for (let round = 0; round < 2; round++) {
        await service.start()
        expect(service.isStarted()).toBe(true)
        expect(node.getProtocols()).toEqual(expect.arrayContaining(swarmProtocols))
        expect(node.services.pubsub.getTopics()).toContain(topic)
        expect(node.services.pubsub.topicValidators.has(topic)).toBe(true)
        expect(listeners()).toBeGreaterThan(before)
        await new Promise(resolve => setTimeout(resolve, 200))
        expect(events).toContain('published') // heartbeats, every 50 ms

        await service.stop()
        expect(service.isStarted()).toBe(false)
        for (const p of swarmProtocols) expect(node.getProtocols()).not.toContain(p)
        expect(node.services.pubsub.getTopics()).not.toContain(topic)
        expect(node.services.pubsub.topicValidators.has(topic)).toBe(false)
        expect(listeners()).toBe(before)
        // Stopped means quiet: no heartbeat after stop.
        const n = events.length
        await new Promise(resolve => setTimeout(resolve, 200))
        expect(events.slice(n)).toEqual([])
      }
    } finally {
      await node.stop()
    }
  }, 30_000)
})
