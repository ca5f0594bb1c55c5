/**
 * A minimal swarm node as its own OS process, for integration tests (to be
 * replaced by the real `swarm-node start`). Loopback only, mDNS off.
 *
 *   node --import tsx tests/helpers/node-proc.ts '{"topic":"t","bootstrap":["/ip4/127.0.0.1/tcp/…/p2p/…"]}'
 *
 * Options (argv[2], JSON): topic, bootstrap?, swarmKeyFile?, minPeers?, exchangeIntervalMs?
 * stdout, JSON lines: {type:"ready",peerId,addrs,startupMs}, {type:"message",from,data,receivedAt},
 *   and one answer per command carrying the command's `id`.
 * stdin, JSON lines: {cmd:"publish",data}, {cmd:"status"}, {cmd:"dial",addr}, {cmd:"stop"}.
 * Exits on SIGTERM, SIGINT, "stop" or when stdin closes (the test runner died).
 */
import '../../node/polyfills.js'
import { print, serveCommands, stopper } from './stdio-commands.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { fromString as utf8Bytes } from 'uint8arrays/from-string'
import { toString as utf8Text } from 'uint8arrays/to-string'
import { createSwarmLibp2p, setTopicScoreParams, topicScoreParams } from '../../node/libp2p.ts'
import { readSwarmKey } from '../../node/swarm-key.ts'

interface Options {
  topic: string
  bootstrap?: string[]
  swarmKeyFile?: string
  minPeers?: number
  exchangeIntervalMs?: number
}


const opts = JSON.parse(process.argv[2] ?? '{}') as Options
const node = await createSwarmLibp2p({
  privateKey: await generateKeyPair('Ed25519'),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  local: true,
  mdns: false,
  bootstrap: opts.bootstrap,
  swarmKey: opts.swarmKeyFile != null ? await readSwarmKey(opts.swarmKeyFile) : undefined,
  peerExchange: { minPeers: opts.minPeers, intervalMs: opts.exchangeIntervalMs }
})
const pubsub = node.services.pubsub
setTopicScoreParams(pubsub, opts.topic, topicScoreParams())
pubsub.subscribe(opts.topic)
pubsub.addEventListener('message', evt => {
  const msg = evt.detail
  if (msg.topic !== opts.topic) return
  print({ type: 'message', from: msg.type === 'signed' ? msg.from.toString() : null, data: utf8Text(msg.data), receivedAt: Date.now() })
})

const stop = stopper(node)

async function answer (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  switch (cmd.cmd) {
    case 'publish': {
      const sentAt = Date.now()
      const res = await pubsub.publish(opts.topic, utf8Bytes(String(cmd.data)))
      return { type: 'published', recipients: res.recipients.length, sentAt }
    }
    case 'status':
      return {
        type: 'status',
        peers: [...new Set(node.getConnections().map(c => c.remotePeer.toString()))],
        subscribers: pubsub.getSubscribers(opts.topic).length
      }
    case 'dial':
      try {
        await node.dial(multiaddr(String(cmd.addr)), { signal: AbortSignal.timeout(5000) })
        return { type: 'dialed', ok: true }
      } catch (err: any) {
        return { type: 'dialed', ok: false, error: `${err?.name}: ${err?.message}` }
      }
    case 'stop':
      return stop()
    default:
      return { type: 'error', error: `unknown command ${String(cmd.cmd)}` }
  }
}

serveCommands(answer, stop)

print({ type: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()), startupMs: Math.round(performance.now()) })
