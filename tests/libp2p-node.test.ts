/**
 * The libp2p layer on loopback: gossip between processes, private swarms,
 * peer exchange in a small swarm, request/response streams, the DHT with a
 * validator and selector, and peer scoring. mDNS is off everywhere.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { generateKey } from '@libp2p/pnet'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromString as utf8Bytes } from 'uint8arrays/from-string'
import { toString as utf8Text } from 'uint8arrays/to-string'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createSwarmLibp2p, peerScore, setTopicScoreParams, topicScoreParams } from '../node/libp2p.ts'
import type { SwarmLibp2p, SwarmLibp2pOptions } from '../node/libp2p.ts'
import { handleRequests, request, StreamError } from '../node/streams.ts'
import { parseSwarmKey, readSwarmKey, SwarmKeyError } from '../node/swarm-key.ts'
import { killAll, spawnTs } from './helpers/processes.ts'
import type { TestProcess } from './helpers/processes.ts'

const NODE_PROC = 'tests/helpers/node-proc.ts'
const TOPIC = 'swarm-node-test/results'
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

// --- helpers -----------------------------------------------------------------

const running: SwarmLibp2p[] = []

async function startNode (opts: Partial<SwarmLibp2pOptions> = {}): Promise<SwarmLibp2p> {
  const node = await createSwarmLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: LOOPBACK, local: true, mdns: false, ...opts })
  running.push(node)
  return node
}

const addrOf = (node: SwarmLibp2p): string => node.getMultiaddrs()[0]!.toString()
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Poll `check` until it holds; fail with `what` after `timeoutMs`. */
async function until (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

async function spawnNode (name: string, opts: Record<string, unknown>): Promise<{ proc: TestProcess, peerId: string, addr: string, readyMs: number }> {
  const proc = spawnTs(name, NODE_PROC, [JSON.stringify({ topic: TOPIC, ...opts })])
  const ready = await proc.waitFor(l => l.type === 'ready', 20_000, { what: 'ready line' })
  return { proc, peerId: ready.peerId, addr: ready.addrs[0], readyMs: Date.now() - proc.startedAt }
}

async function status (proc: TestProcess): Promise<{ peers: string[], subscribers: number }> {
  const s = await proc.ask({ cmd: 'status' })
  return { peers: s.peers, subscribers: s.subscribers }
}

afterEach(async () => {
  await killAll()
  await Promise.all(running.splice(0).map(async n => n.stop()))
})

// --- (a) two processes ---------------------------------------------------------

describe('gossip between processes', () => {
  it('delivers a message from the bootstrap node to a node that bootstrapped to it', async () => {
    const a = await spawnNode('A', {})
    const b = await spawnNode('B', { bootstrap: [a.addr] })
    console.log(`process start to ready: A ${a.readyMs} ms, B ${b.readyMs} ms`)

    await until(async () => (await status(a.proc)).subscribers >= 1 && (await status(b.proc)).subscribers >= 1, 10_000, 'A and B to see each other subscribed')
    const from = b.proc.lines.length
    const published = await a.proc.ask({ cmd: 'publish', data: 'hello from A' })
    expect(published.recipients).toBe(1)
    const got = await b.proc.waitFor(l => l.type === 'message', 5000, { from, what: 'the message' })
    expect(got).toMatchObject({ data: 'hello from A', from: a.peerId })
    console.log(`A -> B delivery: ${got.receivedAt - published.sentAt} ms`)
  }, 40_000)
})

// --- (b) private swarm -----------------------------------------------------------

describe('private swarm (pnet)', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-key-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  async function keyFile (name: string): Promise<Uint8Array> {
    const bytes = new Uint8Array(95)
    generateKey(bytes)
    const path = join(dir, name)
    await writeFile(path, `${utf8Text(bytes)}\n`) // a trailing newline, as editors leave it
    return readSwarmKey(path)
  }

  it('connects holders of the same key and refuses everyone else', async () => {
    const k = await keyFile('k')
    const other = await keyFile('other')
    const a = await startNode({ swarmKey: k })
    const b = await startNode({ swarmKey: k, bootstrap: [addrOf(a)] })
    const c = await startNode({ swarmKey: other })
    const d = await startNode({})
    const received: Record<string, string[]> = { b: [], c: [], d: [] }
    for (const [name, n] of Object.entries({ a, b, c, d })) {
      n.services.pubsub.subscribe(TOPIC)
      n.services.pubsub.addEventListener('message', e => { received[name]?.push(utf8Text(e.detail.data)) })
    }

    const t0 = Date.now()
    await until(() => a.services.pubsub.getSubscribers(TOPIC).length === 1, 10_000, 'B subscribed at A')
    console.log(`same key: connected and subscribed in ${Date.now() - t0} ms`)

    // A different key fails the handshake at once; without a key the two
    // sides may wait on each other until the dial deadline. Either way: no connection.
    const refused = async (from: SwarmLibp2p, to: SwarmLibp2p, name: string): Promise<void> => {
      const start = Date.now()
      await expect(from.dial(to.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(2000) })).rejects.toThrow()
      console.log(`${name}: dial refused after ${Date.now() - start} ms`)
    }
    await Promise.all([refused(c, a, 'other key -> K'), refused(d, a, 'no key -> K'), refused(a, c, 'K -> other key'), refused(a, d, 'K -> no key')])

    await a.services.pubsub.publish(TOPIC, utf8Bytes('members only'))
    await until(() => received.b!.length === 1, 5000, 'B to receive')
    await sleep(300)
    expect(received).toEqual({ b: ['members only'], c: [], d: [] })
    expect(c.getConnections()).toHaveLength(0)
    expect(d.getConnections()).toHaveLength(0)
  }, 40_000)

  it('a public (non-local) node refuses to dial loopback addresses', async () => {
    const target = await startNode({})
    const publicNode = await startNode({ local: false })
    await expect(publicNode.dial(target.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(2000) })).rejects.toThrow()
    expect(publicNode.getConnections()).toHaveLength(0)
  })

  it('reads a key file and rejects missing or malformed ones', async () => {
    const good = utf8Bytes(`/key/swarm/psk/1.0.0/\r\n/base16/\r\n${'AB'.repeat(32)}\r\n`)
    expect(utf8Text(parseSwarmKey(good))).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}`)
    await expect(readSwarmKey(join(dir, 'nope'))).rejects.toMatchObject({ code: 'missing' })
    const cases = [
      `/key/swarm/psk/2.0.0/\n/base16/\n${'ab'.repeat(32)}`,
      `/key/swarm/psk/1.0.0/\n/base64/\n${'ab'.repeat(32)}`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(31)}`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${'zz'.repeat(32)}`,
      'hello'
    ]
    for (const text of cases) {
      const path = join(dir, 'bad')
      await writeFile(path, text)
      const err = await readSwarmKey(path).catch(e => e)
      expect(err).toBeInstanceOf(SwarmKeyError)
      expect(err.code).toBe('malformed')
    }
  })
})

// --- (c) six processes -------------------------------------------------------------

describe('peer exchange', () => {
  it('links 5 nodes that only know the bootstrap node and gossips to all of them', async () => {
    const t0 = Date.now()
    const boot = await spawnNode('boot', {})
    const members = await Promise.all([1, 2, 3, 4, 5].map(async i => spawnNode(`n${i}`, { bootstrap: [boot.addr] })))
    const all = [boot, ...members]
    console.log(`6 processes ready in ${Date.now() - t0} ms (start to ready: ${all.map(n => n.readyMs).join(', ')} ms)`)

    const t1 = Date.now()
    let last = ''
    await until(async () => {
      const s = await Promise.all(all.map(async n => status(n.proc)))
      last = s.map(x => `${x.peers.length}/${x.subscribers}`).join(' ')
      return s.every(x => x.peers.length >= 3 && x.subscribers >= 3)
    }, 20_000, 'every node to have >= 3 peers subscribed to the topic', 200).catch(err => {
      throw new Error(`${err.message}; peers/subscribers per node: ${last}`)
    })
    const peers = await Promise.all(all.map(async n => (await status(n.proc)).peers))
    console.log(`peer exchange: >= 3 peers each after ${Date.now() - t1} ms; peers per node ${peers.map(p => p.length).join(', ')}`)
    // Links between members, not only to the hub.
    for (const p of peers.slice(1)) expect(p.filter(id => id !== boot.peerId).length).toBeGreaterThanOrEqual(2)

    const sender = members[4]!
    const receivers = all.filter(n => n !== sender)
    const marks = receivers.map(n => n.proc.lines.length)
    const published = await sender.proc.ask({ cmd: 'publish', data: 'to everyone' })
    const got = await Promise.all(receivers.map(async (n, i) =>
      n.proc.waitFor(l => l.type === 'message' && l.data === 'to everyone', 5000, { from: marks[i], what: 'the message' })))
    const delays = got.map(l => l.receivedAt - published.sentAt)
    console.log(`delivery to 5 nodes: ${delays.join(', ')} ms (max ${Math.max(...delays)} ms)`)
    expect(got.every(l => l.from === sender.peerId)).toBe(true)
  }, 50_000)
})

// --- (d) request/response --------------------------------------------------------

describe('request/response streams', () => {
  it('answers, caps sizes, times out, rate-limits and survives handler errors', async () => {
    const server = await startNode({ peerExchange: { minPeers: 0 } })
    const client = await startNode({ peerExchange: { minPeers: 0 } })
    const echo = '/swarm-node-test/echo/1.0.0'
    await handleRequests(server, echo, { maxRequestBytes: 1024, timeoutMs: 5000 }, async req => req)
    await handleRequests(server, '/swarm-node-test/list/1.0.0', { maxRequestBytes: 64, timeoutMs: 5000 }, async req => [req, req, req])
    await handleRequests(server, '/swarm-node-test/big/1.0.0', { maxRequestBytes: 64, timeoutMs: 5000 }, async () => new Uint8Array(200_000))
    await handleRequests(server, '/swarm-node-test/hang/1.0.0', { maxRequestBytes: 64, timeoutMs: 3000 }, async () => new Promise<Uint8Array>(() => {}))
    await handleRequests(server, '/swarm-node-test/throw/1.0.0', { maxRequestBytes: 64, timeoutMs: 5000 }, async () => { throw new Error('handler bug') })
    await handleRequests(server, '/swarm-node-test/limited/1.0.0', { maxRequestBytes: 64, timeoutMs: 5000, rateLimit: { perPeerPerMinute: 3 } }, async req => req)
    const to = server.getMultiaddrs()[0]!
    const ask = async (protocol: string, req: Uint8Array, opts: Partial<Parameters<typeof request>[4]> = {}): Promise<Uint8Array[]> =>
      request(client, to, `/swarm-node-test/${protocol}/1.0.0`, req, { maxResponseBytes: 1024, timeoutMs: 3000, ...opts })
    const codeOf = async (p: Promise<unknown>): Promise<string> => {
      const err = await p.then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(StreamError)
      return (err as StreamError).code
    }

    const t0 = performance.now()
    expect((await ask('echo', utf8Bytes('ping'))).map(b => utf8Text(b))).toEqual(['ping'])
    console.log(`roundtrip (new stream on an existing dial): ${Math.round(performance.now() - t0)} ms`)
    expect((await ask('list', utf8Bytes('x'), { maxFrames: 3 })).map(b => utf8Text(b))).toEqual(['x', 'x', 'x'])
    expect(await codeOf(ask('list', utf8Bytes('x'), { maxFrames: 2 }))).toBe('too-many-frames')
    expect(await codeOf(ask('big', utf8Bytes('x')))).toBe('too-large')
    // A request over the server's cap: the server drops the stream unread.
    expect(await codeOf(ask('echo', new Uint8Array(4096)))).toBe('closed')

    const t1 = performance.now()
    expect(await codeOf(ask('hang', utf8Bytes('x'), { timeoutMs: 400 }))).toBe('timeout')
    expect(performance.now() - t1).toBeLessThan(1500)
    const ac = new AbortController()
    setTimeout(() => { ac.abort() }, 100)
    expect(await codeOf(ask('hang', utf8Bytes('x'), { signal: ac.signal }))).toBe('aborted')

    expect(await codeOf(ask('throw', utf8Bytes('x')))).toBe('internal')

    for (let i = 0; i < 3; i++) expect(await ask('limited', utf8Bytes(`r${i}`))).toHaveLength(1)
    const limited = await ask('limited', utf8Bytes('r3')).catch((e: StreamError) => e)
    expect(limited).toMatchObject({ code: 'rate-limited', remote: true })

    // The server is still healthy after all that.
    expect((await ask('echo', utf8Bytes('still here'))).map(b => utf8Text(b))).toEqual(['still here'])
  }, 30_000)
})

// --- (e) DHT -------------------------------------------------------------------------

describe('kad-dht with validator and selector', () => {
  it('stores, refuses invalid records and selects the best copy', async () => {
    const num = (v: Uint8Array): number => Number(utf8Text(v).slice(3))
    // Records look like "ok:<n>"; a lower n is better (as val_bpb is). Node c
    // is stricter: it refuses n > 6, which leaves it holding a different copy.
    const validator = (max: number) => async (_key: Uint8Array, value: Uint8Array): Promise<void> => {
      if (!utf8Text(value).startsWith('ok:') || num(value) > max) throw new Error('invalid record')
    }
    const selector = (_key: Uint8Array, values: Uint8Array[]): number =>
      values.reduce((best, v, i) => num(v) < num(values[best]!) ? i : best, 0)
    const a = await startNode({ dhtValidators: { swt: validator(100) }, dhtSelectors: { swt: selector } })
    const b = await startNode({ bootstrap: [addrOf(a)], dhtValidators: { swt: validator(100) }, dhtSelectors: { swt: selector } })
    const c = await startNode({ bootstrap: [addrOf(a)], dhtValidators: { swt: validator(6) }, dhtSelectors: { swt: selector } })
    const nodes = [a, b, c]
    const t0 = Date.now()
    await until(() => nodes.every(n => (n.services.dht as any).routingTable.size >= 2), 10_000, 'routing tables')
    console.log(`DHT routing tables full after ${Date.now() - t0} ms`)

    const opts = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(5000) })
    const get = async (n: SwarmLibp2p, key: string): Promise<string | null> =>
      n.contentRouting.get(utf8Bytes(key), opts()).then(v => utf8Text(v), () => null)

    const t1 = Date.now()
    await a.contentRouting.put(utf8Bytes('/swt/one'), utf8Bytes('ok:5'), opts())
    const t2 = Date.now()
    expect(await get(c, '/swt/one')).toBe('ok:5')
    console.log(`DHT put ${t2 - t1} ms, get ${Date.now() - t2} ms`)

    // Peers refuse an invalid record; nobody returns it, not even the putter.
    await a.contentRouting.put(utf8Bytes('/swt/bad'), utf8Bytes('bad:1'), opts()).catch(() => {})
    for (const n of nodes) expect(await get(n, '/swt/bad')).toBeNull()

    // A worse record overwrites a and b (kad-dht does not apply the selector on
    // store); c refuses it and keeps ok:5; get asks everyone and selects ok:5.
    await b.contentRouting.put(utf8Bytes('/swt/one'), utf8Bytes('ok:7'), opts())
    expect(await get(a, '/swt/one')).toBe('ok:5')
  }, 30_000)
})

// --- (f) scoring -------------------------------------------------------------------

describe('gossipsub peer scoring', () => {
  it('lowers the score of a peer that forwards invalid messages', async () => {
    const a = await startNode({})
    const b = await startNode({ bootstrap: [addrOf(a)] })
    setTopicScoreParams(b.services.pubsub, TOPIC, topicScoreParams())
    b.services.pubsub.topicValidators.set(TOPIC, (_peer, msg) =>
      utf8Text(msg.data) === 'bad' ? TopicValidatorResult.Reject : TopicValidatorResult.Accept)
    const got: string[] = []
    b.services.pubsub.addEventListener('message', e => { got.push(utf8Text(e.detail.data)) })
    a.services.pubsub.subscribe(TOPIC)
    b.services.pubsub.subscribe(TOPIC)
    await until(() => a.services.pubsub.getSubscribers(TOPIC).length === 1, 10_000, 'B subscribed at A')

    await a.services.pubsub.publish(TOPIC, utf8Bytes('good'))
    await until(() => got.length === 1, 5000, 'the good message')
    const before = peerScore(b.services.pubsub, a.peerId.toString())
    await a.services.pubsub.publish(TOPIC, utf8Bytes('bad'))
    await until(() => peerScore(b.services.pubsub, a.peerId.toString()) < before - 5, 5000, 'the score to drop')
    console.log(`score of A at B: ${before.toFixed(2)} -> ${peerScore(b.services.pubsub, a.peerId.toString()).toFixed(2)}`)
    expect(got).toEqual(['good'])
  }, 20_000)
})
