// How fast and how completely does a local swarm gossip signed results?
// Builds N real swarm nodes (createSwarmLibp2p: TCP + Noise + Yamux, GossipSub,
// kad-dht, peer exchange) on 127.0.0.1, node 0 as bootstrap, lets peer exchange
// form the topology, then publishes M real signed `result` messages from random
// nodes and times their delivery. Every node validates with the real checks
// (`checkGossip`: decode, schema, Ed25519 signature, author == publisher).
//
//   node --import tsx scripts/bench-gossip.ts [--nodes 10,30] [--messages 20]
//        [--processes 1[,K]] [--json-out bench-results/gossip.json]
//        [--formation-timeout-ms 45000] [--rescue-ms 20000] [--settle-ms 10000]
//        [--join-gap-ms 0] [--verbose]
//
// --processes takes a list: 1 = every node in this process; K > 1 = nodes
// spread over K worker processes (this same file, forked with --worker), which
// gives a fairer RSS per node and more than one core. Each (N, processes) pair
// is one run, in order.
//
// Phases of a run: start node 0, then nodes 1..N-1 bootstrapping to it (all
// at once, or --join-gap-ms apart); formation (every node connected to
// >= min(4, N-1) peers with a non-empty mesh for the topic; nodes still
// without any connection --rescue-ms into it dial the bootstrap once more
// themselves, counted in the output, because a node whose first dial timed
// out waits ~40 s for peer exchange's next try); settle (up to
// --settle-ms for every event loop to go quiet: the start-up storm of
// handshakes, identify and DHT walks otherwise lands in the latencies);
// publish M results 100-200 ms apart; wait up to 5 s for missing deliveries.
//
// All nodes of a process share one event loop, so what is measured in-process
// is largely CPU contention (see the ELU column); multi-process is closer to a
// real swarm but still shares this machine's cores.
//
// Prints a table and writes the JSON. Loopback only, mDNS off, `local: true`;
// every phase has a timeout, every node is stopped at the end and a watchdog
// ends the process if something hangs.

import '../node/polyfills.js'
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { createSwarmLibp2p, setTopicScoreParams, topicScoreParams, type SwarmLibp2p } from '../node/libp2p.ts'
import { checkGossip } from '../node/swarm/gossip-check.ts'
import { encodeMessage, messageId, signMessage, topicFor, type ResultMsg, type Unsigned } from '../protocol/index.ts'

const root = join(import.meta.dirname, '..')
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

/** After the last publish, missing deliveries are waited for this long. */
const GRACE_MS = 5_000
const PUBLISH_GAP_MS: [number, number] = [100, 200]
const STOP_TIMEOUT_MS = 10_000
/** Settle: publishing starts when every process's event-loop utilisation over a window is below this. */
const SETTLE_ELU = 0.5
const SETTLE_WINDOW_MS = 500
const SETTLE_QUIET_WINDOWS = 2
const CREATE_BATCH = 5
const RESCUE_DIAL_TIMEOUT_MS = 10_000
/** Per run on top of its own timeouts, for the watchdog. */
const WATCHDOG_SLACK_MS = 60_000

/** Wall-clock ms with sub-ms resolution, comparable across processes on one machine. */
const now = (): number => performance.timeOrigin + performance.now()
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const randomHex = (bytes = 32): string => randomBytes(bytes).toString('hex')

// --- the nodes living in one process ------------------------------------------

/**
 * `opened`: connections this node has opened or accepted since it started
 * (churn = opened - connections). `refused`: inbound connections its
 * connection manager turned away (pending-handshake cap, rate limit, max).
 */
interface NodeStatus { index: number, connections: number, opened: number, refused: number, mesh: number, subscribers: number }
/** `elu`: cumulative event-loop active/idle ms (performance.eventLoopUtilization), to difference between two statuses. */
interface HostStatus { nodes: NodeStatus[], rss: number, heapUsed: number, elu: { active: number, idle: number }, cpuMs: number }
interface Published { id: string, t0: number, recipients: number, bytes: number }

/**
 * Some of the swarm's nodes, in this process. Used directly in-process and
 * through IPC commands by the workers.
 */
class Host {
  private readonly nodes = new Map<number, { node: SwarmLibp2p, key: PrivateKey, opened: number, refused: number }>()
  /** message id -> node index -> arrival time (after validation). */
  private readonly arrivals = new Map<string, Map<number, number>>()
  private arrivalCount = 0
  private rejected = 0
  private project = ''
  private topic = ''
  readonly baselineRss = process.memoryUsage().rss

  init (project: string): void {
    this.project = project
    this.topic = topicFor(project)
  }

  /** Create, start and subscribe the given nodes (a few at a time); returns their addresses. */
  async create (indices: number[], bootstrap?: string): Promise<Array<{ index: number, peerId: string, addr: string }>> {
    const out: Array<{ index: number, peerId: string, addr: string }> = []
    for (let i = 0; i < indices.length; i += CREATE_BATCH) {
      out.push(...await Promise.all(indices.slice(i, i + CREATE_BATCH).map(async index => await this.createOne(index, bootstrap))))
    }
    return out
  }

  private async createOne (index: number, bootstrap?: string): Promise<{ index: number, peerId: string, addr: string }> {
    const key = await generateKeyPair('Ed25519')
    const node = await createSwarmLibp2p({
      privateKey: key,
      listen: LOOPBACK,
      local: true,
      mdns: false,
      bootstrap: bootstrap != null ? [bootstrap] : []
    })
    const entry = { node, key, opened: 0, refused: 0 }
    this.nodes.set(index, entry)
    node.addEventListener('connection:open', () => { entry.opened++ })
    countRefusals(node, () => { entry.refused++ })
    const pubsub = node.services.pubsub
    // As the swarm service does: validator and score params before subscribing.
    pubsub.topicValidators.set(this.topic, async (_peer, msg) => {
      const v = await checkGossip(msg, this.project)
      if (!v.ok) {
        this.rejected++
        return v.reject ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      const t = now()
      const id = messageId(v.message)
      let byNode = this.arrivals.get(id)
      if (byNode == null) this.arrivals.set(id, byNode = new Map())
      if (!byNode.has(index)) {
        byNode.set(index, t)
        this.arrivalCount++
      }
      return TopicValidatorResult.Accept
    })
    setTopicScoreParams(pubsub, this.topic, topicScoreParams())
    pubsub.subscribe(this.topic)
    const addr = node.getMultiaddrs().find(a => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
    if (addr == null) throw new Error(`node ${index} has no loopback TCP address`)
    return { index, peerId: node.peerId.toString(), addr: addr.toString() }
  }

  status (): HostStatus {
    const nodes: NodeStatus[] = []
    for (const [index, { node, opened, refused }] of this.nodes) {
      const peers = new Set(node.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))
      const pubsub = node.services.pubsub
      nodes.push({ index, connections: peers.size, opened, refused, mesh: meshPeers(pubsub, this.topic), subscribers: pubsub.getSubscribers(this.topic).length })
    }
    const mem = process.memoryUsage()
    const { active, idle } = performance.eventLoopUtilization()
    const cpu = process.cpuUsage()
    return { nodes, rss: mem.rss, heapUsed: mem.heapUsed, elu: { active, idle }, cpuMs: (cpu.user + cpu.system) / 1000 }
  }

  /** Sign a real result with node `index`'s key and publish it; t0 is taken after signing, right before publish. */
  async publish (index: number, k: number): Promise<Published> {
    const entry = this.nodes.get(index)
    if (entry == null) throw new Error(`node ${index} is not in this process`)
    const body: Unsigned<ResultMsg> = {
      v: 1,
      kind: 'result',
      project: this.project,
      track: 'cpu',
      parent: randomHex(),
      child: randomHex(),
      diff: fakeDiff(k),
      val_bpb: 1.2 + Math.random() * 0.1,
      verified_bpb: null,
      status: k % 3 === 0 ? 'keep' : 'discard',
      reason: k % 3 === 0 ? 'val_bpb improved' : 'val_bpb not better than parent',
      metrics: { train_seconds: 300, peak_vram_mb: 0, num_params_m: 0.43, steps: 1000 + k },
      hardware: { cpu: 'bench-gossip loopback', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null },
      agent: 'bench-gossip',
      description: `bench message ${k}: try a slightly different learning-rate warmup`,
      time: Date.now()
    }
    const signed = await signMessage(body, entry.key)
    const bytes = encodeMessage(signed)
    const id = messageId(signed)
    const t0 = now()
    const res = await entry.node.services.pubsub.publish(this.topic, bytes)
    return { id, t0, recipients: res.recipients.length, bytes: bytes.byteLength }
  }

  /**
   * Dial the bootstrap node from every node with no connection at all: the
   * bench stepping in where peer exchange has not (yet) reconnected a node.
   */
  async rescue (bootstrap: string): Promise<{ tried: number[], ok: number[], errors: string[] }> {
    const out = { tried: [] as number[], ok: [] as number[], errors: [] as string[] }
    const ma = multiaddr(bootstrap)
    await Promise.all([...this.nodes].map(async ([index, { node }]) => {
      if (node.getConnections().some(c => c.status === 'open')) return
      out.tried.push(index)
      try {
        await node.dial(ma, { signal: AbortSignal.timeout(RESCUE_DIAL_TIMEOUT_MS) })
        out.ok.push(index)
      } catch (err: any) {
        out.errors.push(`#${index}: ${err?.name ?? 'Error'} ${err?.message ?? err}`)
      }
    }))
    return out
  }

  counts (): { arrivals: number, rejected: number } {
    return { arrivals: this.arrivalCount, rejected: this.rejected }
  }

  arrivalList (): Array<[string, number, number]> {
    const out: Array<[string, number, number]> = []
    for (const [id, byNode] of this.arrivals) for (const [index, t] of byNode) out.push([id, index, t])
    return out
  }

  /** Stop every node; resolves to how many did not stop within the timeout. */
  async stop (): Promise<number> {
    const all = [...this.nodes.values()]
    this.nodes.clear()
    let stuck = 0
    await Promise.all(all.map(async ({ node }) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const stopped = await Promise.race([
        Promise.resolve(node.stop()).then(() => true, () => true),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS) })
      ])
      clearTimeout(timer)
      if (!stopped) stuck++
    }))
    return stuck
  }
}

/**
 * Diagnostics only: count inbound connections the connection manager refuses.
 * libp2p refuses silently (a debug line) and the dialer sees, not a quick
 * error, a Noise handshake that times out. Reaches into libp2p's internals
 * (`components.connectionManager.acceptIncomingConnection`); does nothing if
 * they are not there.
 */
function countRefusals (node: SwarmLibp2p, onRefuse: () => void): void {
  const cm = (node as unknown as { components?: { connectionManager?: { acceptIncomingConnection?: (c: unknown) => boolean } } }).components?.connectionManager
  const accept = cm?.acceptIncomingConnection
  if (cm == null || typeof accept !== 'function') return
  cm.acceptIncomingConnection = function (this: unknown, maConn: unknown): boolean {
    const ok = accept.call(this, maConn)
    if (!ok) onRefuse()
    return ok
  }
}

/**
 * The topic's mesh size. `getMeshPeers` is on the GossipSub class but not on
 * the `GossipSub` interface that `gossipsub()` returns.
 */
function meshPeers (pubsub: GossipSub, topic: string): number {
  const gs = pubsub as GossipSub & { getMeshPeers?: (topic: string) => string[] }
  if (typeof gs.getMeshPeers !== 'function') throw new Error('this GossipSub build has no getMeshPeers')
  return gs.getMeshPeers(topic).length
}

/** A unified diff of a few KB, different per message. */
function fakeDiff (k: number): string {
  const lines = ['--- a/train.py', '+++ b/train.py']
  for (let hunk = 0; hunk < 12; hunk++) {
    const at = 40 + hunk * 37 + k
    lines.push(`@@ -${at},7 +${at},8 @@ def train(model, data, cfg):`)
    lines.push('     for step in range(cfg.steps):')
    lines.push('         x, y = data.batch(cfg.batch_size)')
    lines.push(`-        lr = cfg.lr * min(1.0, step / ${100 + hunk})`)
    lines.push(`+        warmup = ${100 + hunk + k} # ${randomHex(8)}`)
    lines.push('+        lr = cfg.lr * min(1.0, (step + 1) / warmup) * cosine(step, cfg.steps)')
    lines.push('         loss = model(x, y)')
    lines.push('         loss.backward()')
    lines.push('         opt.step(lr)')
  }
  return lines.join('\n') + '\n'
}

// --- host handles: in this process or a worker over IPC ---------------------------

type Cmd =
  | { cmd: 'init', project: string }
  | { cmd: 'create', indices: number[], bootstrap?: string }
  | { cmd: 'status' }
  | { cmd: 'publish', index: number, k: number }
  | { cmd: 'counts' }
  | { cmd: 'arrivals' }
  | { cmd: 'stop' }
  | { cmd: 'baseline' }
  | { cmd: 'rescue', bootstrap: string }

async function dispatch (host: Host, c: Cmd): Promise<unknown> {
  switch (c.cmd) {
    case 'init': return host.init(c.project)
    case 'create': return await host.create(c.indices, c.bootstrap)
    case 'status': return host.status()
    case 'publish': return await host.publish(c.index, c.k)
    case 'counts': return host.counts()
    case 'arrivals': return host.arrivalList()
    case 'stop': return await host.stop()
    case 'baseline': return host.baselineRss
    case 'rescue': return await host.rescue(c.bootstrap)
  }
}

interface Handle {
  readonly name: string
  readonly pid: number
  call<T>(c: Cmd): Promise<T>
  close (): Promise<void>
}

class LocalHandle implements Handle {
  readonly name = 'in-process'
  readonly pid = process.pid
  private readonly host = new Host()
  async call<T>(c: Cmd): Promise<T> { return await dispatch(this.host, c) as T }
  async close (): Promise<void> {}
}

class WorkerHandle implements Handle {
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  private exited = false

  private constructor (readonly name: string, private readonly child: ChildProcess) {
    child.on('message', (m: { id: number, ok: boolean, result?: unknown, error?: string }) => {
      const p = this.pending.get(m.id)
      if (p == null) return
      this.pending.delete(m.id)
      if (m.ok) p.resolve(m.result)
      else p.reject(new Error(`${this.name}: ${m.error}`))
    })
    child.on('exit', code => {
      this.exited = true
      for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited (code ${code})`))
      this.pending.clear()
    })
  }

  get pid (): number { return this.child.pid ?? -1 }

  static async start (name: string): Promise<WorkerHandle> {
    const child = fork(import.meta.filename, ['--worker'], { cwd: root, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const handle = new WorkerHandle(name, child)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in 30 s`)), 30_000)
      child.once('message', () => { clearTimeout(timer); resolve() }) // the worker's hello
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`${name} exited at start (code ${code})`)) })
    })
    return handle
  }

  async call<T>(c: Cmd, timeoutMs = 60_000): Promise<T> {
    if (this.exited) throw new Error(`${this.name} has exited`)
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`${this.name}: ${c.cmd} timed out`)) }, timeoutMs)
      this.pending.set(id, { resolve: v => { clearTimeout(timer); resolve(v) }, reject: e => { clearTimeout(timer); reject(e) } })
      this.child.send({ id, ...c })
    })
  }

  /** Ask the worker to exit; kill it (this child, by its pid) if it does not. */
  async close (): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>(resolve => this.child.once('exit', () => resolve()))
    this.child.disconnect()
    let timer: ReturnType<typeof setTimeout> | undefined
    const ok = await Promise.race([gone.then(() => true), new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), 5000) })])
    clearTimeout(timer)
    if (!ok) {
      this.child.kill('SIGKILL')
      await gone
    }
  }
}

async function workerMain (): Promise<void> {
  const host = new Host()
  process.on('message', (m: Cmd & { id: number }) => {
    dispatch(host, m).then(
      result => process.send?.({ id: m.id, ok: true, result }),
      (err: unknown) => process.send?.({ id: m.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) })
    )
  })
  // The parent went away (or asked us to go): stop the nodes and leave.
  process.on('disconnect', () => {
    void host.stop().finally(() => process.exit(0))
  })
  process.send?.({ hello: true })
}

// --- one run ------------------------------------------------------------------------

function utilization (a: { active: number, idle: number }, b: { active: number, idle: number }): number {
  const active = b.active - a.active
  const idle = b.idle - a.idle
  return active + idle > 0 ? active / (active + idle) : 0
}

interface Stats { min: number, median: number, max: number }
function spread (xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0] ?? NaN, median: percentile(s, 50), max: s.at(-1) ?? NaN }
}
/** Nearest rank on a sorted array. */
function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] as number
}

interface Topology {
  connections: Stats
  /** Connection opens summed over all nodes (each connection counts at both ends). */
  opened: number
  /** Inbound connections refused by connection managers, all nodes / the bootstrap node. */
  refused: number
  bootstrapRefused: number
  mesh: Stats
  subscribers: Stats
}

interface RunResult {
  nodes: number
  processes: number
  messages: number
  startMs: number
  formationMs: number | null
  formed: boolean
  formationTimeoutMs: number
  joinGapMs: number
  /** From the last publish until every delivery arrived (or the grace period ended). */
  deliveryEndMs: number
  /** Wait after formation for the event loop(s) to go quiet, and whether they did. */
  settleMs: number
  settled: boolean
  /** Event-loop utilisation per process from the first publish to the end of delivery. */
  publishElu: number[]
  /** CPU (user + system, all processes holding nodes) from node 0's start until formation ended, and while publishing. */
  cpuSeconds: { startAndFormation: number, publishAndDelivery: number, perNodeFormation: number }
  atFormation: Topology
  /**
   * The bench dialled the bootstrap from nodes still without any connection
   * `rescueMs` into formation (null: not needed or disabled).
   */
  rescue: { atMs: number, tried: number[], ok: number[], errors: string[] } | null
  /** Nodes still below target when formation ended (empty when it formed). */
  shortAtFormation: NodeStatus[]
  atEnd: Topology
  timeToAllMs: { p50: number, p99: number, max: number, complete: number }
  receiverLatencyMs: { p50: number, p99: number, max: number, samples: number }
  delivered: number
  expected: number
  deliveryRatio: number
  missing: number
  rejected: number
  rss: {
    totalBytes: number
    perNodeBytes: number
    /** Growth over the process(es)' RSS before any node existed, per node. */
    perNodeDeltaBytes: number
    workers: Array<{ pid: number, nodes: number, rssBytes: number, baselineRssBytes: number, perNodeBytes: number }>
  }
  perMessage: Array<{ k: number, publisher: number, bytes: number, recipients: number, received: number, timeToAllMs: number | null, medianMs: number | null }>
  stopStuck: number
}

interface RunOptions {
  n: number
  processes: number
  messages: number
  /** Formation: every node connected to >= min(4, N-1) peers with a non-empty topic mesh, within this. */
  formationTimeoutMs: number
  /** Into formation, dial the bootstrap from nodes that still have no connection; 0: never. */
  rescueMs: number
  /** Longest wait after formation for the event loops to go quiet; 0 publishes at once. */
  settleMs: number
  /** 0: start nodes 1..N-1 together; else one every joinGapMs. */
  joinGapMs: number
  verbose: boolean
}

async function run (o: RunOptions): Promise<RunResult> {
  const { n, processes, messages, formationTimeoutMs, rescueMs, settleMs, joinGapMs, verbose } = o
  const project = randomHex()
  const handles: Handle[] = []
  // node index -> handle
  const owner: Handle[] = []
  try {
    if (processes <= 1) handles.push(new LocalHandle())
    else for (let w = 0; w < processes; w++) handles.push(await WorkerHandle.start(`worker ${w}`))
    // Contiguous blocks; node 0 (the bootstrap) is in the first one.
    const blocks: number[][] = handles.map(() => [])
    for (let i = 0; i < n; i++) {
      const w = Math.floor(i * handles.length / n)
      blocks[w]!.push(i)
      owner[i] = handles[w]!
    }
    const baselines = await Promise.all(handles.map(async h => await h.call<number>({ cmd: 'baseline' })))
    await Promise.all(handles.map(async h => await h.call({ cmd: 'init', project })))

    const cpuAt = async (): Promise<number> => (await Promise.all(handles.map(async h => (await h.call<HostStatus>({ cmd: 'status' })).cpuMs)).then(xs => xs.reduce((a, b) => a + b, 0)))
    const cpuStart = await cpuAt()
    const t0 = now()
    const [boot] = await handles[0]!.call<Array<{ addr: string, peerId: string }>>({ cmd: 'create', indices: [0] })
    const bootstrap = boot!.addr.includes('/p2p/') ? boot!.addr : `${boot!.addr}/p2p/${boot!.peerId}`
    if (joinGapMs === 0) {
      await Promise.all(handles.map(async (h, w) => await h.call({ cmd: 'create', indices: blocks[w]!.filter(i => i !== 0), bootstrap })))
    } else {
      // One node at a time, joinGapMs apart: a swarm grows, it does not appear at once.
      for (let i = 1; i < n; i++) {
        const tNext = t0 + i * joinGapMs
        await sleep(Math.max(0, tNext - now()))
        await owner[i]!.call({ cmd: 'create', indices: [i], bootstrap })
      }
    }
    const startMs = now() - t0
    process.stdout.write(`  N=${n} procs=${processes}: ${n} nodes started in ${startMs.toFixed(0)} ms; waiting for topology and mesh`)

    // Formation: every node >= min(4, N-1) connections and a non-empty mesh.
    const target = Math.min(4, n - 1)
    const tForm = now()
    let eluPrev = (await Promise.all(handles.map(async h => (await h.call<HostStatus>({ cmd: 'status' })).elu)))
    const eluNow = async (): Promise<string> => {
      const cur = await Promise.all(handles.map(async h => (await h.call<HostStatus>({ cmd: 'status' })).elu))
      const u = cur.map((c, i) => utilization(eluPrev[i]!, c))
      eluPrev = cur
      return u.map(x => x.toFixed(2)).join('/')
    }
    let formed = false
    let last: NodeStatus[] = []
    let lastPrint = now()
    let rescue: RunResult['rescue'] = null
    while (now() - tForm < formationTimeoutMs) {
      last = (await Promise.all(handles.map(async h => (await h.call<HostStatus>({ cmd: 'status' })).nodes))).flat()
      if (last.length === n && last.every(s => s.connections >= target && s.mesh >= 1)) { formed = true; break }
      if (rescueMs > 0 && rescue == null && now() - tForm >= rescueMs && last.some(s => s.connections === 0)) {
        // Not awaited in the loop: the rescue dials may take their full timeout.
        const atMs = now() - tForm
        rescue = { atMs, tried: [], ok: [], errors: [] }
        const r = rescue
        void Promise.all(handles.map(async h => await h.call<{ tried: number[], ok: number[], errors: string[] }>({ cmd: 'rescue', bootstrap }))).then(results => {
          for (const x of results) { r.tried.push(...x.tried); r.ok.push(...x.ok); r.errors.push(...x.errors) }
          process.stdout.write(`\n  N=${n} procs=${processes}: rescue at ${atMs.toFixed(0)} ms: ${r.tried.length} isolated nodes dialled the bootstrap themselves, ${r.ok.length} connected${r.errors.length > 0 ? ` (${r.errors.slice(0, 3).join('; ')})` : ''} `)
        }, err => { process.stdout.write(`\n  rescue failed: ${err}`) })
      }
      if (now() - lastPrint > 1000) {
        if (verbose) process.stdout.write(`\n   t=${(now() - tForm).toFixed(0)} elu ${await eluNow()} short conns: ${last.filter(s => s.connections < target).map(s => `#${s.index}:${s.connections}`).join(' ')} | no mesh: ${last.filter(s => s.mesh < 1).map(s => `#${s.index}(subs ${s.subscribers})`).join(' ')}`)
        else process.stdout.write('.')
        lastPrint = now()
      }
      await sleep(100)
    }
    const formationMs = now() - tForm
    const cpuFormed = await cpuAt()
    const describeStatus = (st: NodeStatus[]): RunResult['atFormation'] => ({
      connections: spread(st.map(s => s.connections)),
      opened: st.reduce((a, s) => a + s.opened, 0),
      refused: st.reduce((a, s) => a + s.refused, 0),
      bootstrapRefused: st.find(s => s.index === 0)?.refused ?? 0,
      mesh: spread(st.map(s => s.mesh)),
      subscribers: spread(st.map(s => s.subscribers))
    })
    const atFormation = describeStatus(last)
    const shortAtFormation = last.filter(s => s.connections < target || s.mesh < 1)
    if (formed) {
      process.stdout.write(` formed in ${formationMs.toFixed(0)} ms (since all nodes started; ${(startMs + formationMs).toFixed(0)} ms since the first)\n`)
    } else {
      const short = shortAtFormation.map(s => `#${s.index}:${s.connections}c/${s.mesh}m`)
      process.stdout.write(` NOT formed after ${formationTimeoutMs} ms (${short.length} short: ${short.slice(0, 8).join(' ')}); publishing anyway\n`)
    }
    if (atFormation.refused > 0) {
      process.stdout.write(`  N=${n} procs=${processes}: ${atFormation.refused} inbound connections refused during formation (${atFormation.bootstrapRefused} by the bootstrap node)\n`)
    }

    // Settle: right after formation the event loop(s) are still saturated by
    // handshakes, identify, DHT walks and peer exchange; publish once they go
    // quiet (every process's ELU < SETTLE_ELU over SETTLE_QUIET_WINDOWS windows
    // in a row) or after settleMs anyway. Later bursts still come: libp2p's
    // connection monitor pings every connection every 10 s.
    const tSettle = now()
    let quiet = settleMs === 0
    if (!quiet) {
      let prev = await Promise.all(handles.map(async h => (await h.call<HostStatus>({ cmd: 'status' })).elu))
      let prevLine = false
      let quietWindows = 0
      while (now() - tSettle < settleMs) {
        await sleep(SETTLE_WINDOW_MS)
        const cur = await Promise.all(handles.map(async h => (await h.call<HostStatus>({ cmd: 'status' })).elu))
        const u = cur.map((c, i) => utilization(prev[i]!, c))
        prev = cur
        if (verbose) process.stdout.write(`${prevLine ? '' : '   settle ELU:'} ${u.map(x => x.toFixed(2)).join('/')}`)
        prevLine = true
        quietWindows = u.every(x => x < SETTLE_ELU) ? quietWindows + 1 : 0
        if (quietWindows >= SETTLE_QUIET_WINDOWS) { quiet = true; break }
      }
    }
    const settledMs = now() - tSettle
    if (verbose && settleMs > 0) process.stdout.write('\n')
    if (settleMs > 0) process.stdout.write(`  N=${n} procs=${processes}: ${quiet ? 'quiet' : `NOT quiet (ELU >= ${SETTLE_ELU})`} after ${settledMs.toFixed(0)} ms; publishing ${messages} messages\n`)
    const statusStart = await Promise.all(handles.map(async h => await h.call<HostStatus>({ cmd: 'status' })))
    const eluStart = statusStart.map(st => st.elu)
    const cpuPublish = statusStart.reduce((a, st) => a + st.cpuMs, 0)
    // Publish M signed results from random nodes.
    const published: Array<Published & { k: number, publisher: number }> = []
    for (let k = 0; k < messages; k++) {
      const publisher = Math.floor(Math.random() * n)
      const p = await owner[publisher]!.call<Published>({ cmd: 'publish', index: publisher, k })
      published.push({ ...p, k, publisher })
      await sleep(PUBLISH_GAP_MS[0] + Math.random() * (PUBLISH_GAP_MS[1] - PUBLISH_GAP_MS[0]))
    }
    const expected = messages * (n - 1)
    const tLast = now()
    while (now() - tLast < GRACE_MS) {
      const c = (await Promise.all(handles.map(async h => await h.call<{ arrivals: number }>({ cmd: 'counts' })))).reduce((a, b) => a + b.arrivals, 0)
      if (c >= expected) break
      await sleep(50)
    }

    const deliveryEndMs = now() - tLast
    // Collect.
    const statusEnd = await Promise.all(handles.map(async h => await h.call<HostStatus>({ cmd: 'status' })))
    const publishElu = statusEnd.map((st, i) => utilization(eluStart[i]!, st.elu))
    const cpuEnd = statusEnd.reduce((a, st) => a + st.cpuMs, 0)
    const counts = await Promise.all(handles.map(async h => await h.call<{ arrivals: number, rejected: number }>({ cmd: 'counts' })))
    const arrivals = (await Promise.all(handles.map(async h => await h.call<Array<[string, number, number]>>({ cmd: 'arrivals' })))).flat()
    const byId = new Map<string, Map<number, number>>()
    for (const [id, index, t] of arrivals) {
      let m = byId.get(id)
      if (m == null) byId.set(id, m = new Map())
      m.set(index, t)
    }
    const allLatencies: number[] = []
    const tta: number[] = []
    const perMessage: RunResult['perMessage'] = []
    let delivered = 0
    for (const p of published) {
      const got = byId.get(p.id) ?? new Map<number, number>()
      const lat: number[] = []
      for (const [index, t] of got) if (index !== p.publisher) lat.push(t - p.t0)
      lat.sort((a, b) => a - b)
      delivered += lat.length
      allLatencies.push(...lat)
      const complete = lat.length === n - 1
      if (complete) tta.push(lat.at(-1) ?? 0)
      perMessage.push({ k: p.k, publisher: p.publisher, bytes: p.bytes, recipients: p.recipients, received: lat.length, timeToAllMs: complete ? (lat.at(-1) ?? 0) : null, medianMs: lat.length > 0 ? percentile(lat, 50) : null })
    }
    tta.sort((a, b) => a - b)
    allLatencies.sort((a, b) => a - b)

    const nodesEnd = statusEnd.flatMap(s => s.nodes)
    const workers = statusEnd.map((s, w) => ({
      pid: handles[w]!.pid,
      nodes: s.nodes.length,
      rssBytes: s.rss,
      baselineRssBytes: baselines[w]!,
      perNodeBytes: s.nodes.length > 0 ? s.rss / s.nodes.length : NaN
    }))
    const totalRss = workers.reduce((a, w) => a + w.rssBytes, 0)
    const totalBaseline = workers.reduce((a, w) => a + w.baselineRssBytes, 0)

    const stopStuck = (await Promise.all(handles.map(async h => await h.call<number>({ cmd: 'stop' })))).reduce((a, b) => a + b, 0)
    return {
      nodes: n,
      processes: handles.length,
      messages,
      startMs,
      formationMs: formed ? formationMs : null,
      formed,
      formationTimeoutMs,
      joinGapMs,
      settleMs: settledMs,
      settled: quiet,
      publishElu,
      cpuSeconds: {
        startAndFormation: (cpuFormed - cpuStart) / 1000,
        publishAndDelivery: (cpuEnd - cpuPublish) / 1000,
        perNodeFormation: (cpuFormed - cpuStart) / 1000 / n
      },
      deliveryEndMs,
      atFormation,
      shortAtFormation,
      rescue,
      atEnd: describeStatus(nodesEnd),
      timeToAllMs: { p50: percentile(tta, 50), p99: percentile(tta, 99), max: tta.at(-1) ?? NaN, complete: tta.length },
      receiverLatencyMs: { p50: percentile(allLatencies, 50), p99: percentile(allLatencies, 99), max: allLatencies.at(-1) ?? NaN, samples: allLatencies.length },
      delivered,
      expected,
      deliveryRatio: expected > 0 ? delivered / expected : 1,
      missing: expected - delivered,
      rejected: counts.reduce((a, c) => a + c.rejected, 0),
      rss: { totalBytes: totalRss, perNodeBytes: totalRss / n, perNodeDeltaBytes: (totalRss - totalBaseline) / n, workers },
      perMessage,
      stopStuck
    }
  } finally {
    // Also on error: stop whatever nodes exist and let the workers go.
    await Promise.all(handles.map(async h => { await h.call({ cmd: 'stop' }).catch(() => {}); await h.close() }))
  }
}

// --- output -------------------------------------------------------------------------

const MB = 1024 * 1024
function table (results: RunResult[]): string {
  const f = (x: number | null, d = 0): string => x == null || Number.isNaN(x) ? '-' : x.toFixed(d)
  const stats = (s: Stats): string => `${s.min}/${s.median}/${s.max}`
  const rows = [[
    'N', 'procs', 'start ms', 'formation ms', 'CPU s', 'settle ms', 'ELU', 'tta p50', 'tta p99', 'tta max', 'rcv p50', 'rcv p99',
    'delivery', 'RSS/node MB', 'ΔRSS/node MB', 'RSS/worker MB', 'conns min/med/max', 'mesh min/med/max'
  ]]
  for (const r of results) {
    rows.push([
      String(r.nodes), String(r.processes), f(r.startMs),
      `${r.formed ? f(r.formationMs) : `>${r.formationTimeoutMs}!`}${r.rescue != null ? ` r${r.rescue.ok.length}/${r.rescue.tried.length}` : ''}`,
      f(r.cpuSeconds.startAndFormation, 1),
      `${f(r.settleMs)}${r.settled ? '' : '!'}`, r.publishElu.map(x => x.toFixed(2)).join('/'),
      f(r.timeToAllMs.p50, 1), f(r.timeToAllMs.p99, 1), f(r.timeToAllMs.max, 1),
      f(r.receiverLatencyMs.p50, 1), f(r.receiverLatencyMs.p99, 1),
      `${r.delivered}/${r.expected} (${(r.deliveryRatio * 100).toFixed(1)}%)`,
      f(r.rss.perNodeBytes / MB, 1), f(r.rss.perNodeDeltaBytes / MB, 1),
      r.rss.workers.map(w => `${f(w.rssBytes / MB)}(${w.nodes}n)`).join(' '),
      stats(r.atFormation.connections), stats(r.atFormation.mesh)
    ])
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map(r => r[c]!.length)))
  return rows.map(r => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')).join('\n')
}

// --- main ---------------------------------------------------------------------------

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10,30' },
      messages: { type: 'string', default: '20' },
      processes: { type: 'string', default: '1' },
      'json-out': { type: 'string', default: 'bench-results/gossip.json' },
      'settle-ms': { type: 'string', default: '10000' },
      'join-gap-ms': { type: 'string', default: '0' },
      'formation-timeout-ms': { type: 'string', default: '45000' },
      'rescue-ms': { type: 'string', default: '20000' },
      verbose: { type: 'boolean', default: false },
      worker: { type: 'boolean', default: false }
    }
  })
  // libp2p's peer store queues many writers on one AbortSignal (MaxListenersExceededWarning
  // per node): print each distinct warning once instead of hundreds of times.
  const seenWarnings = new Set<string>()
  process.removeAllListeners('warning')
  process.on('warning', w => {
    const key = `${w.name}: ${w.message}`
    if (!seenWarnings.has(key)) { seenWarnings.add(key); console.error(`(warning, shown once) ${key}`) }
  })
  if (values.worker) { await workerMain(); return }

  const list = (s: string, what: string): number[] => s.split(',').map(x => {
    const v = Number(x.trim())
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${what}: "${x}" is not a positive integer`)
    return v
  })
  const nodeCounts = list(values.nodes, 'nodes')
  const processCounts = list(values.processes, 'processes')
  const messages = list(values.messages, 'messages')[0]!
  const settleMs = Number(values['settle-ms'])
  if (!Number.isFinite(settleMs) || settleMs < 0) throw new Error('--settle-ms: not a number >= 0')
  const joinGapMs = Number(values['join-gap-ms'])
  if (!Number.isFinite(joinGapMs) || joinGapMs < 0) throw new Error('--join-gap-ms: not a number >= 0')
  const formationTimeoutMs = Number(values['formation-timeout-ms'])
  if (!Number.isFinite(formationTimeoutMs) || formationTimeoutMs <= 0) throw new Error('--formation-timeout-ms: not a number > 0')
  const rescueMs = Number(values['rescue-ms'])
  if (!Number.isFinite(rescueMs) || rescueMs < 0) throw new Error('--rescue-ms: not a number >= 0')
  if (nodeCounts.some(n => n < 2)) throw new Error('--nodes: need at least 2 nodes')
  const jsonOut = resolve(root, values['json-out'])

  // Every run is bounded by its phases' timeouts; past the sum (plus slack) something hangs.
  const runs = nodeCounts.length * processCounts.length
  const watchdogMs = runs * (formationTimeoutMs + settleMs + messages * PUBLISH_GAP_MS[1] + GRACE_MS + WATCHDOG_SLACK_MS)
  const watchdog = setTimeout(() => {
    console.error(`bench-gossip: watchdog fired after ${(watchdogMs / 1000).toFixed(0)} s; exiting (workers stop their nodes when this process goes)`)
    process.exit(1)
  }, watchdogMs)
  watchdog.unref()

  // Other work on the machine shows up directly in formation and latency: say how busy it was.
  const loadBefore = loadavg()
  console.log(`bench-gossip: nodes ${nodeCounts.join(',')}, ${messages} messages, processes ${processCounts.join(',')}, ${cpus().length} cpus, node ${process.version}, load average ${loadBefore.map(x => x.toFixed(2)).join(' ')}`)
  if (loadBefore[0]! > cpus().length) console.log(`  note: the machine is already busy (1-min load ${loadBefore[0]!.toFixed(2)} on ${cpus().length} cpus); expect slower formation and longer tails`)
  const results: RunResult[] = []
  const t0 = now()
  for (const n of nodeCounts) {
    for (const k of processCounts) {
      const r = await run({ n, processes: Math.min(k, n), messages, formationTimeoutMs, rescueMs, settleMs, joinGapMs, verbose: values.verbose })
      results.push(r)
      console.log(`  N=${n} procs=${r.processes}: delivered ${r.delivered}/${r.expected}, tta p50 ${r.timeToAllMs.p50.toFixed(1)} ms, max ${r.timeToAllMs.max.toFixed(1)} ms${r.rejected > 0 ? `, ${r.rejected} REJECTED` : ''}${r.stopStuck > 0 ? `, ${r.stopStuck} nodes did not stop` : ''}`)
    }
  }
  const totalS = (now() - t0) / 1000

  console.log('\n' + table(results))
  console.log('\ntta = time from publish until ALL other nodes validated the message (complete messages only); rcv = per-receiver latency;')
  console.log('CPU s = CPU seconds (all node-holding processes) from the first node\'s start to the end of formation.')
  console.log('formation: ! = not formed; rK/T = T nodes still without any connection at --rescue-ms dialled the bootstrap themselves, K connected.')
  console.log(`settle = wait after formation for every event loop to go quiet (ELU < ${SETTLE_ELU} for ${SETTLE_QUIET_WINDOWS * SETTLE_WINDOW_MS} ms; ! = never did); ELU = event-loop utilisation per process while publishing.`)
  console.log('RSS/node = process RSS (sum over workers) / N; ΔRSS/node = growth over the RSS before any node existed / N')
  console.log('(in-process, runs after the first start from a heap the earlier run left behind, so their ΔRSS is low; workers are fresh per run).')
  console.log(`total ${totalS.toFixed(1)} s`)

  await mkdir(dirname(jsonOut), { recursive: true })
  await writeFile(jsonOut, JSON.stringify({
    bench: 'gossip',
    when: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadavg(),
    config: {
      messages, publishGapMs: PUBLISH_GAP_MS, settleMaxMs: settleMs, joinGapMs, rescueMs, settleElu: SETTLE_ELU, settleWindowMs: SETTLE_WINDOW_MS, settleQuietWindows: SETTLE_QUIET_WINDOWS, graceMs: GRACE_MS, formationTimeoutMs,
      formation: 'every node: connections >= min(4, N-1) and getMeshPeers(topic) non-empty',
      validator: 'checkGossip (decode + schema + Ed25519 signature + author == publisher)',
      timeSource: 'performance.timeOrigin + performance.now(); arrival taken after validation'
    },
    totalSeconds: totalS,
    runs: results
  }, null, 2) + '\n')
  console.log(`wrote ${jsonOut}`)

  // Everything is stopped; if a handle still keeps the loop alive, say so and leave anyway.
  setTimeout(() => {
    console.error(`bench-gossip: something still holds the event loop after every node stopped (${process.getActiveResourcesInfo().join(', ')}); exiting`)
    process.exit(0)
  }, 2000).unref()
}

await main()
