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
 * Options also: `extraKeys` (more Ed25519 keys it can sign with: free keys that run
 * no node), `swarmKey` (a swarm key file: it joins that private swarm, a member),
 * and `bootstrap` may be empty (nobody knows it until it dials).
 *
 * stdout, JSON lines: {type:"ready",peerId,addrs,keys}; {type:"fetched",hash,found}
 *   whenever a peer asks for content; {type:"fetch-held"} whenever a fetch stream is
 *   left hanging; and one answer per command, with its `id`.
 * stdin, JSON lines:
 *   {cmd:"sign",body,key?}   -> {type:"signed",message}   body without author/sig; key: 0 (the node's) or 1..extraKeys
 *   {cmd:"publish",data}     -> {type:"published",recipients}   data: base64 bytes
 *   {cmd:"serve",files}      -> {type:"serving",hash}
 *   {cmd:"store",message}    -> {type:"stored",added}   a signed message for `sync` to serve (any author)
 *   {cmd:"dial",addr}        -> {type:"dialed"}
 *   {cmd:"hang-fetch"}       -> {type:"hanging"}   from now on fetch streams are accepted and never answered
 *   {cmd:"board-answer",frames} -> {type:"answering"}   leaderboard requests get these frames (base64) as the answer
 *   {cmd:"put-best",record}  -> {type:"put"}   a signed best record, stored under its key
 *   {cmd:"status"}           -> {type:"status",peers,subscribers}   subscribers of the project topic
 *   {cmd:"stop"}
 * Exits on SIGTERM, SIGINT, "stop" or when stdin closes (the test runner died).
 */
import '../../node/polyfills.js'
import { print, serveCommands, stopper } from './stdio-commands.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  BEST_KEY_PREFIX, FETCH_PROTOCOL, LEADERBOARD_PROTOCOL, bestKey, encodeBestRecord, selectBestRecord, signMessage, topicFor,
  validateBestRecord, validateMessage, type BestRecord
} from '../../protocol/index.ts'
import { createSwarmLibp2p } from '../../node/libp2p.ts'
import { readSwarmKey } from '../../node/swarm-key.ts'
import { handleRequests } from '../../node/streams.ts'
import { serveSwarmProtocols } from '../../node/swarm/protocols.ts'
import { SwarmStore } from '../../node/swarm/store.ts'

interface Options { project: string, bootstrap?: string[], storeDir: string, extraKeys?: number, swarmKey?: string }


const opts = JSON.parse(process.argv[2] ?? '{}') as Options
const topic = topicFor(opts.project)
const privateKey = await generateKeyPair('Ed25519')
const keys = [privateKey, ...await Promise.all(Array.from({ length: opts.extraKeys ?? 0 }, async () => await generateKeyPair('Ed25519')))]
const node = await createSwarmLibp2p({
  privateKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  local: true,
  mdns: false,
  bootstrap: opts.bootstrap,
  ...(opts.swarmKey != null ? { swarmKey: await readSwarmKey(opts.swarmKey) } : {}),
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
const held: unknown[] = []

async function answer (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  switch (cmd.cmd) {
    case 'sign': {
      const key = keys[Number(cmd.key ?? 0)]
      if (key == null) return { type: 'error', error: `no key ${String(cmd.key)}` }
      return { type: 'signed', message: await signMessage(cmd.body, key) }
    }
    case 'store':
      return { type: 'stored', added: await store.add(validateMessage(cmd.message)) }
    case 'dial':
      await node.dial(multiaddr(String(cmd.addr)), { signal: AbortSignal.timeout(10_000) })
      return { type: 'dialed' }
    case 'hang-fetch':
      await node.unhandle(FETCH_PROTOCOL)
      // Accept the stream, read nothing, answer nothing: the asker's deadline is all that ends it.
      await node.handle(FETCH_PROTOCOL, stream => { held.push(stream); print({ type: 'fetch-held' }) }, { maxInboundStreams: 1024 })
      return { type: 'hanging' }
    case 'board-answer': {
      const frames = (cmd.frames as string[]).map(f => Buffer.from(f, 'base64'))
      await node.unhandle(LEADERBOARD_PROTOCOL)
      await handleRequests(node, LEADERBOARD_PROTOCOL, { maxRequestBytes: 1024, timeoutMs: 10_000 }, async () => frames)
      return { type: 'answering' }
    }
    case 'publish': {
      const res = await node.services.pubsub.publish(topic, Buffer.from(String(cmd.data), 'base64'))
      return { type: 'published', recipients: res.recipients.length }
    }
    case 'serve':
      return { type: 'serving', hash: await store.putContent(cmd.files) }
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

print({ type: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()), keys: keys.map(k => peerIdFromPrivateKey(k).toString()) })
