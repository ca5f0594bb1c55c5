/**
 * A subscriber to a project's results topic built the way PROTOCOL.md §1 says
 * a reader needs (TCP, Noise, Yamux, identify, GossipSub with StrictSign),
 * straight from the libp2p packages: nothing from `protocol/` or the node's own
 * libp2p assembly. It prints what arrives, undecoded; the test decodes it with
 * tests/helpers/independent-decoder.ts.
 *
 *   node --import tsx tests/helpers/independent-subscriber.ts '{"dial":"/ip4/127.0.0.1/tcp/…/p2p/…","topic":"/swarm-node/1/<id>/results"}'
 *
 * stdout, JSON lines: {type:"ready",peerId}; {type:"message",topic,from,data}
 * (data: base64 of the payload bytes). Exits on SIGTERM or when stdin closes.
 */
// A Node 20 shim for libp2p (Promise.withResolvers), loaded before libp2p: environment, not protocol.
import '../../node/polyfills.js'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const opts = JSON.parse(process.argv[2] ?? '{}') as { dial: string, topic: string }
const print = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(o)}\n`) }

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // The node under test lives on loopback.
  connectionGater: { denyDialMultiaddr: () => false },
  services: {
    identify: identify(),
    pubsub: gossipsub({ emitSelf: false, fallbackToFloodsub: false, allowPublishToZeroTopicPeers: true })
  }
})

node.services.pubsub.addEventListener('message', evt => {
  const m = evt.detail
  print({ type: 'message', topic: m.topic, from: m.type === 'signed' ? m.from.toString() : null, signed: m.type === 'signed', data: Buffer.from(m.data).toString('base64') })
})
node.services.pubsub.subscribe(opts.topic)
await node.dial(multiaddr(opts.dial))
print({ type: 'ready', peerId: node.peerId.toString() })

let stopping = false
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await Promise.race([node.stop(), new Promise(resolve => setTimeout(resolve, 3000))])
  process.exit(0)
}
process.on('SIGTERM', () => { void stop() })
process.stdin.on('close', () => { void stop() }).resume()
