/**
 * A hostile swarm peer for flood and fuzz tests, as its own process: a libp2p
 * node built like a real one, that floods the project topic with valid
 * messages from many keys (a Sybil relay: each message correctly signed by its
 * own author, all of them sent over this one connection), serves a sync
 * backlog from many keys, and fuzzes gossip and the stream protocols with
 * random and mutated input. For streams it speaks the wire format itself and
 * takes a fresh identity whenever the target's per-peer rate limit answers,
 * as a real attacker would (peer ids are free).
 *
 *   node --import tsx tests/helpers/hostile-peer.ts '{"project":"<64 hex>","storeDir":"/tmp/…"}'
 *   with "evil":{"text":"…"}: sync and fetch answer an error frame with that text; leaderboard answers an unsigned row carrying it and a signed keep
 *
 * stdout: {type:"ready",peerId,addrs}, then one answer per command (with its id).
 * stdin, JSON lines:
 *   {cmd:"keys",n}                                  -> {type:"keys",authors}
 *   {cmd:"dial",addr}                               -> {type:"dialled"}
 *   {cmd:"subscribers"}                             -> {type:"subscribers",peers}
 *   {cmd:"fill",count,bytes}                        -> {type:"filled",stored}     sync backlog, one message per key round robin
 *   {cmd:"flood",count,minBytes,maxBytes,seed}      -> {type:"flooded",sent,ms,errors}
 *   {cmd:"fuzz-gossip",count,seed}                  -> {type:"fuzzed",sent,valid,mutated,ms}
 *   {cmd:"fuzz-stream",protocol,target,count,seed,cases?,clients?,concurrency?}  -> {type:"fuzzed",sent,outcomes,identities,ms}
 *       outcomes by answer: end, data, error:<code> (error:busy: the limit for all peers), reset, no-answer; `cases` picks framing cases (default all)
 *   {cmd:"stop"}
 */
import '../../node/polyfills.js'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Ed25519PrivateKey, Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  FETCH_PROTOCOL, LEADERBOARD_PROTOCOL, SYNC_PROTOCOL, contentHash, encode, encodeMessage, signMessage, topicFor,
  type Message, type ResultMsg
} from '../../protocol/index.ts'
import { createSwarmLibp2p } from '../../node/libp2p.ts'
import { serveSwarmProtocols } from '../../node/swarm/protocols.ts'
import { StreamError, handleRequests } from '../../node/streams.ts'
import { SwarmStore } from '../../node/swarm/store.ts'
import { FRAMING_CASES, Rng, mutateBytes, mutateValue, randomBody, requestBytes } from './fuzz.ts'
import { print, serveCommands, stopper } from './stdio-commands.ts'

/** `evil`: answer sync and fetch with an error frame carrying `text`, and leaderboard with an unsigned row carrying it beside a signed keep. */
interface Options { project: string, storeDir: string, evil?: { text: string } }

const opts = JSON.parse(process.argv[2] ?? '{}') as Options
const topic = topicFor(opts.project)
const privateKey = await generateKeyPair('Ed25519')
const node = await createSwarmLibp2p({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], local: true, mdns: false })
node.services.pubsub.subscribe(topic)
// What it serves over sync: whatever `fill` put there, however much.
const store = await SwarmStore.open(opts.storeDir, { limits: { maxBytes: 2 ** 40, authorMaxBytes: 2 ** 40, authorMaxDiscards: 2 ** 30 } })
if (opts.evil == null) {
  await serveSwarmProtocols(node, p => p === opts.project ? store : undefined)
} else {
  const text = opts.evil.text
  const limits = { maxRequestBytes: 1024, timeoutMs: 10_000 }
  for (const id of [SYNC_PROTOCOL, FETCH_PROTOCOL]) await handleRequests(node, id, limits, async () => { throw new StreamError('bad-request', text) })
  // A row in the old, unsigned format carrying the text (the asker must refuse it, never show it),
  // then a signed keep of its own: the protocol refuses control characters in signed text.
  const row = { rank: 1, project: opts.project, track: 'cpu', result: 'e'.repeat(64), val_bpb: 0.5, claimed_bpb: 0.5, attestations: 3, failed: 0, delta: -0.5, author: `12D3KooW${'A'.repeat(44)}`, hardware: { cpu: text, cores: 2, ram_gb: 8, gpu: text, gpu_mem_gb: 80 }, description: text, time: Date.now() }
  const keep = await signMessage({
    v: 1, kind: 'result', project: opts.project, track: 'cpu', parent: contentHash({ 'train.py': 'p' }), child: contentHash({ 'train.py': 'c' }), diff: '',
    val_bpb: 0.5, verified_bpb: null, status: 'keep', reason: '', metrics: {}, hardware: { cpu: 'Evil CPU', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null },
    agent: 'evil', description: 'a signed keep of the evil peer', time: Date.now()
  } as any, privateKey) as Message
  await handleRequests(node, LEADERBOARD_PROTOCOL, limits, async () => [new TextEncoder().encode(JSON.stringify({ rows: [row] })), encodeMessage(keep)])
}
const stop = stopper(node)

let keys: Ed25519PrivateKey[] = [privateKey as Ed25519PrivateKey]

const HW = { cpu: 'Sybil CPU', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }

function discard (i: number, bytes: number, time: number): Omit<ResultMsg, 'author' | 'sig'> {
  return {
    v: 1, kind: 'result', project: opts.project, track: 'cpu', parent: contentHash({ 'train.py': 'p' }), child: contentHash({ 'train.py': `c${i}` }),
    // A diff of `bytes` (the protocol allows 48 KiB), like the 41 KB discards of the issue.
    diff: `--- a/train.py\n+++ b/train.py\n${'+x = 1\n'.repeat(Math.max(0, Math.floor((bytes - 40) / 7)))}`,
    val_bpb: 1.5 + (i % 100) / 1000, verified_bpb: null, status: i % 10 === 0 ? 'keep' : 'discard', reason: '', metrics: { training_seconds: 60 },
    hardware: HW, agent: 'sybil', description: `flood ${i}`, time
  }
}

/** Publishes `data` on the topic as `key` (GossipSub signs it with that key, as if relayed from its author). */
async function publishAs (key: Ed25519PrivateKey, data: Uint8Array): Promise<number> {
  const ps = node.services.pubsub as any
  // Read synchronously at the start of publish(): concurrent publishes as different keys do not mix.
  ps.publishConfig = { type: 0, author: peerIdFromPrivateKey(key), key: publicKeyToProtobuf(key.publicKey), privateKey: key }
  return (await ps.publish(topic, data, { ignoreDuplicatePublishError: true })).recipients.length
}

async function flood (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  const r = new Rng(cmd.seed ?? 1)
  const count = Number(cmd.count)
  const t0 = Date.now()
  let sent = 0
  let errors = 0
  let delivered = 0
  const batch = 50
  for (let i = 0; i < count; i += batch) {
    const msgs = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
      const key = keys[(i + j) % keys.length]!
      const size = cmd.minBytes + r.int(cmd.maxBytes - cmd.minBytes + 1)
      return { key, data: encodeMessage(await signMessage(discard(i + j, size, Date.now() - r.int(3_600_000)), key) as Message) }
    }))
    await Promise.all(msgs.map(async m => {
      try { delivered += await publishAs(m.key, m.data); sent++ } catch { errors++ }
    }))
  }
  return { type: 'flooded', sent, errors, delivered, ms: Date.now() - t0 }
}

async function fuzzGossip (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  const r = new Rng(cmd.seed ?? 2)
  const t0 = Date.now()
  let valid = 0
  let mutated = 0
  const ps = node.services.pubsub
  for (let i = 0; i < Number(cmd.count); i++) {
    const body = randomBody(r, opts.project, Date.now())
    const signed = await signMessage(body as any, privateKey) as Message
    let data: Uint8Array
    if (r.chance(cmd.validShare ?? 0.5)) {
      data = encodeMessage(signed)
      valid++
    } else {
      // Bytes broken after signing, or a value broken and signed anyway (a canonical, signed, schema-breaking message).
      const broken = mutateValue(r, signed as unknown as Record<string, unknown>)
      let canonical: Uint8Array
      // The canonical encoder refuses some values (a lone surrogate): an attacker sends plain JSON then.
      try { canonical = encode(broken) } catch { canonical = new TextEncoder().encode(JSON.stringify(broken)) }
      data = r.chance(0.5) ? mutateBytes(r, encodeMessage(signed)) : canonical
      mutated++
    }
    try { await ps.publish(topic, data) } catch {}
  }
  return { type: 'fuzzed', sent: valid + mutated, valid, mutated, ms: Date.now() - t0 }
}

/** A bare node (TCP, Noise, yamux) with a fresh identity: all a stream fuzzer needs. */
async function freshNode (): Promise<Libp2p> {
  return await createLibp2p({ privateKey: await generateKeyPair('Ed25519'), transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

type Outcome = string

/** Reads the whole answer: the kinds of its frames, until END, ERROR, reset, or `ms`. */
async function answerOf (stream: Stream, ms: number): Promise<Outcome> {
  const chunks: Uint8Array[] = []
  let timedOut = false
  // Raced, not just aborted: an aborted libp2p stream does not always end a pending read.
  let expire: () => void = () => {}
  const expired = new Promise<'expired'>(resolve => { expire = () => { resolve('expired') } })
  const timer = setTimeout(expire, ms)
  const it = (stream as unknown as AsyncIterable<{ subarray: () => Uint8Array } | Uint8Array>)[Symbol.asyncIterator]()
  try {
    for (;;) {
      const next = await Promise.race([it.next(), expired])
      if (next === 'expired') { timedOut = chunks.length === 0; stream.abort(new Error('client timeout')); break }
      if (next.done === true) break
      chunks.push(next.value instanceof Uint8Array ? next.value : next.value.subarray())
    }
  } catch {
    // Reset by the server: what arrived before says what it was.
  } finally {
    clearTimeout(timer)
  }
  const buf = Buffer.concat(chunks)
  // The first frame says what the answer was: END (complete), DATA..., or ERROR {code}.
  let at = 0
  let len = 0
  let shift = 0
  while (at < buf.length) {
    const b = buf[at++]!
    len += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0) break
  }
  if (buf.length === 0) return timedOut ? 'no-answer' : 'reset'
  const kind = buf[at]
  if (kind === 2) {
    try {
      const { code, message } = JSON.parse(buf.subarray(at + 1, at + len).toString())
      // The protocol's limit for all peers together: a new identity would not help.
      return code === 'rate-limited' && /everyone/.test(String(message)) ? 'error:busy' : `error:${String(code)}`
    } catch { return 'error:?' }
  }
  return kind === 0 ? 'data' : kind === 1 ? 'end' : 'other'
}

const PROTOCOLS: Record<string, string> = { fetch: FETCH_PROTOCOL, sync: SYNC_PROTOCOL, leaderboard: LEADERBOARD_PROTOCOL }

function validRequest (r: Rng, protocol: string): Uint8Array {
  const project = r.chance(0.9) ? opts.project : contentHash({ x: String(r.next()) })
  switch (protocol) {
    case 'fetch': return encode({ project, hash: contentHash({ 'train.py': String(r.int(5)) }) })
    case 'sync': return encode({ project, since: r.pick([0, Date.now() - 3_600_000, 2 ** 52]), limit: r.pick([1, 100, 1000]) })
    default: return encode({ project, limit: r.pick([1, 20, 100]), ...(r.chance(0.5) ? { track: 'cpu' } : {}) })
  }
}

async function fuzzStream (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  const protocol = PROTOCOLS[cmd.protocol]
  if (protocol == null) throw new Error(`unknown protocol ${String(cmd.protocol)}`)
  const target = multiaddr(cmd.target)
  const count = Number(cmd.count)
  const cases = (cmd.cases as typeof FRAMING_CASES | undefined) ?? FRAMING_CASES
  const outcomes: Record<string, number> = {}
  const t0 = Date.now()
  let identities = 0
  let sent = 0
  const gaveUp: string[] = []
  /** One client: a fresh identity, up to `concurrency` streams at a time, a new identity when rate-limited. */
  const worker = async (seed: number): Promise<void> => {
    const r = new Rng(seed)
    let client = await freshNode()
    identities++
    let limited = false
    const one = async (): Promise<void> => {
      const kind = r.pick(cases)
      const bytes = requestBytes(r, kind, validRequest(r, cmd.protocol))
      const hold = r.chance(0.01)
      let step = 'dial'
      const exchange = async (): Promise<Outcome> => {
        let stream: Stream
        try {
          stream = await client.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5000) })
        } catch (err: any) {
          return `dial:${String(err?.name ?? 'error')}`
        }
        const deadline = setTimeout(() => { stream.abort(new Error('client deadline')) }, 6000)
        try {
          step = 'send'
          // The server may have reset the stream already (rate limit, too many streams).
          try { if (bytes.byteLength > 0) stream.send(bytes) } catch { return 'reset' }
          step = 'close'
          // Now and then a slow client that never finishes its request (the server's deadline ends it).
          if (!hold) await stream.close({ signal: AbortSignal.timeout(2000) }).catch(() => {})
          step = 'read'
          return await answerOf(stream, 3000)
        } finally {
          clearTimeout(deadline)
        }
      }
      // A client-side backstop only: a slow dial and a slow answer on a loaded machine add up.
      const outcome = await Promise.race([exchange(), new Promise<Outcome>(resolve => setTimeout(() => { resolve('client-gave-up') }, 15_000).unref())])
      if (outcome === 'client-gave-up' && gaveUp.length < 10) gaveUp.push(`${kind}${hold ? ' (held)' : ''} at ${step}`)
      if (outcome === 'error:rate-limited') limited = true
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
    while (sent < count) {
      const n = Math.min(Number(cmd.concurrency ?? 6), count - sent)
      sent += n
      await Promise.all(Array.from({ length: n }, one))
      if (limited) {
        // The target's per-peer limit answered: come back as somebody else (the old one leaves in the background).
        limited = false
        const old = client
        void Promise.resolve(old.stop()).catch(() => {})
        client = await freshNode()
        identities++
      }
    }
    await client.stop()
  }
  const seed = Number(cmd.seed ?? 3)
  await Promise.all(Array.from({ length: Number(cmd.clients ?? 3) }, async (_, i) => { await worker(seed * 1000 + i) }))
  return { type: 'fuzzed', sent, outcomes, identities, ms: Date.now() - t0, gaveUp }
}

async function answer (cmd: Record<string, any>): Promise<Record<string, unknown>> {
  switch (cmd.cmd) {
    case 'keys':
      keys = await Promise.all(Array.from({ length: Number(cmd.n) }, async () => await generateKeyPair('Ed25519') as Ed25519PrivateKey))
      return { type: 'keys', authors: keys.length }
    case 'dial':
      await node.dial(multiaddr(String(cmd.addr)), { signal: AbortSignal.timeout(10_000) })
      return { type: 'dialled' }
    case 'subscribers':
      return { type: 'subscribers', peers: node.services.pubsub.getSubscribers(topic).map(p => p.toString()) }
    case 'fill': {
      let stored = 0
      const now = Date.now()
      for (let i = 0; i < Number(cmd.count); i++) {
        const m = await signMessage(discard(1_000_000 + i, Number(cmd.bytes ?? 2000), now - 60_000 - i), keys[i % keys.length]!)
        if (await store.add(m as Message)) stored++
      }
      return { type: 'filled', stored }
    }
    case 'flood': return await flood(cmd)
    case 'fuzz-gossip': return await fuzzGossip(cmd)
    case 'fuzz-stream': return await fuzzStream(cmd)
    case 'stop': return await stop()
    default: return { type: 'error', error: `unknown command ${String(cmd.cmd)}` }
  }
}

serveCommands(answer, stop)
print({ type: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) })
