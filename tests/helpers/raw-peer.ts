/**
 * A raw swarm peer for integration tests, as its own process: a libp2p node
 * built like a real one (`createSwarmLibp2p`, loopback, mDNS off) but with no
 * research loop and no scruples. It publishes whatever bytes it is given on a
 * project's topic, signs protocol messages with its own key, serves `fetch`
 * (and `sync`) with whatever content it is given, and can put a best record
 * into the DHT. Drive it with `spawnTs` from processes.ts.
 *
 *   node --import tsx tests/helpers/raw-peer.ts '{"project":"<64 hex>","bootstrap":["/ip4/127.0.0.1/tcp/…/p2p/…"],"storeDir":"/tmp/…"}'
 *
 * stdout, JSON lines: {type:"ready",peerId,addrs}; {type:"fetched",hash,found}
 *   whenever a peer asks for content; and one answer per command, with its `id`.
 * stdin, JSON lines:
 *   {cmd:"sign",body}        -> {type:"signed",message}   body without author/sig
 *   {cmd:"publish",data}     -> {type:"published",recipients}   data: base64 bytes
 *   {cmd:"serve",files}      -> {type:"serving",hash}
 *   {cmd:"store",message}    -> {type:"stored",added}   a signed message (anyone's) served to peers that sync
 *   {cmd:"put-best",record}  -> {type:"put"}   a signed best record, stored under its key
 *   {cmd:"status"}           -> {type:"status",peers,subscribers}   subscribers of the project topic
 *   {cmd:"stop"}
 * Exits on SIGTERM, SIGINT, "stop" or when stdin closes (the test runner died).
 */
import '../../node/polyfills.js'
import { print, serveCommands, stopper } from './stdio-commands.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  BEST_KEY_PREFIX, bestKey, encodeBestRecord, selectBestRecord, signMessage, topicFor, validateBestRecord, type BestRecord
} from '../../protocol/index.ts'
import { createSwarmLibp2p } from '../../node/libp2p.ts'
import { serveSwarmProtocols } from '../../node/swarm/protocols.ts'
import { SwarmStore } from '../../node/swarm/store.ts'

interface Options { project: string, bootstrap?: string[], storeDir: string }


const opts = JSON.parse(process.argv[2] ?? '{}') as Options
const topic = topicFor(opts.project)
const privateKey = await generateKeyPair('Ed25519')
const node = await createSwarmLibp2p({
  privateKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  local: true,
  mdns: false,
  bootstrap: opts.bootstrap,
  dhtValidators: { [BEST_KEY_PREFIX]: async (key, value) => { await validateBestRecord(key, value) } },
  dhtSelectors: { [BEST_KEY_PREFIX]: selectBestRecord }
})

// Content served over `fetch`; every request for it is reported.
const store = await SwarmStore.open(opts.storeDir)
const lookUp = store.getContent.bind(store)
store.getContent = async (hash: string) => {
  const files = await lookUp(hash)
  print({ type: 'fetched', hash, found: files != null })
  return files
}
await serveSwarmProtocols(node, p => p === opts.project ? store : undefined)

const stop = stopper(node)

async function answer (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  switch (cmd.cmd) {
    case 'sign':
      return { type: 'signed', message: await signMessage(cmd.body, privateKey) }
    case 'publish': {
      const res = await node.services.pubsub.publish(topic, Buffer.from(String(cmd.data), 'base64'))
      return { type: 'published', recipients: res.recipients.length }
    }
    case 'serve':
      return { type: 'serving', hash: await store.putContent(cmd.files) }
    case 'store':
      return { type: 'stored', added: await store.add(cmd.message) }
    case 'put-best': {
      const record = cmd.record as BestRecord
      const signal = AbortSignal.timeout(20_000)
      for await (const _ of node.services.dht.put(bestKey(record.project, record.track), encodeBestRecord(record), { signal })) { /* drain */ }
      return { type: 'put' }
    }
    case 'status':
      return {
        type: 'status',
        peers: [...new Set(node.getConnections().map(c => c.remotePeer.toString()))],
        subscribers: node.services.pubsub.getSubscribers(topic).map(p => p.toString())
      }
    case 'stop':
      return await stop()
    default:
      return { type: 'error', error: `unknown command ${String(cmd.cmd)}` }
  }
}

serveCommands(answer, stop)

print({ type: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) })
