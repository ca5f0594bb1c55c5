/**
 * The swarm nodes one process holds during `bench:gossip`: real swarm nodes
 * (createSwarmLibp2p: TCP + Noise + Yamux, GossipSub, kad-dht, peer
 * exchange) that validate every message with the real checks (`checkGossip`:
 * decode, schema, Ed25519 signature, author == publisher) and note when each
 * message arrived. The bench drives them directly in-process, or through a
 * worker process (`worker.ts`).
 */
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { createSwarmLibp2p, setTopicScoreParams, topicScoreParams, type SwarmLibp2p } from '../../node/libp2p.ts'
import { checkGossip } from '../../node/swarm/gossip-check.ts'
import { encodeMessage, messageId, signMessage, topicFor, type ResultMsg, type Unsigned } from '../../protocol/index.ts'

const STOP_TIMEOUT_MS = 10_000
const CREATE_BATCH = 5
const RESCUE_DIAL_TIMEOUT_MS = 10_000

/** Wall-clock ms with sub-ms resolution, comparable across processes (and namespaces) on one machine. */
export const now = (): number => performance.timeOrigin + performance.now()
const randomHex = (bytes = 32): string => randomBytes(bytes).toString('hex')

/**
 * `opened`: connections this node has opened or accepted since it started
 * (churn = opened - connections). `refused`: inbound connections its
 * connection manager turned away (pending-handshake cap, rate limit, max).
 */
export interface NodeStatus { index: number, connections: number, opened: number, refused: number, mesh: number, subscribers: number }
/** `elu`: cumulative event-loop active/idle ms (performance.eventLoopUtilization), to difference between two statuses. */
export interface HostStatus { nodes: NodeStatus[], rss: number, heapUsed: number, elu: { active: number, idle: number }, cpuMs: number }
export interface Published { id: string, t0: number, recipients: number, bytes: number }

/**
 * Some of the swarm's nodes, in this process: on 127.0.0.1, or each on an
 * address of its own on a simulated host (as separate machines would be: many
 * nodes behind one address are what GossipSub's colocation penalty is for).
 */
export class BenchNodes {
  private readonly nodes = new Map<number, { node: SwarmLibp2p, key: PrivateKey, opened: number, refused: number }>()
  /** message id -> node index -> arrival time (after validation). */
  private readonly arrivals = new Map<string, Map<number, number>>()
  private arrivalCount = 0
  private rejected = 0
  private project = ''
  private topic = ''
  readonly baselineRss = process.memoryUsage().rss
  private ips = ['127.0.0.1']

  init (project: string, ips = ['127.0.0.1']): void {
    this.project = project
    this.topic = topicFor(project)
    this.ips = ips
  }

  baseline (): number { return this.baselineRss }

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
    const ip = this.ips[this.nodes.size % this.ips.length]!
    const node = await createSwarmLibp2p({
      privateKey: key,
      listen: [`/ip4/${ip}/tcp/0`],
      // Node 0 is the swarm's bootstrap node: a hub, with the connection limits `swarm-node bootstrap` has.
      hub: index === 0,
      // Loopback or the simulated hosts of --netns: private or test addresses, no NAT between them.
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
    const addr = node.getMultiaddrs().find(a => a.toString().startsWith(`/ip4/${ip}/tcp/`))
    if (addr == null) throw new Error(`node ${index} has no TCP address on ${ip}`)
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
      hardware: { cpu: 'bench-gossip', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null },
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
