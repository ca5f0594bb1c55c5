/**
 * The flood attack of issue 10, measured, for tests/swarm-flood.test.ts and
 * scripts/bench-flood.ts: one `swarm-node start` process (with the quotas it
 * is given in its limits.json), a hostile peer holding `keys` fresh keys that
 * first offers a sync backlog of `backlog` messages from them, then publishes
 * `messages` valid, correctly signed results from them over its one
 * connection; an honest peer the node already knows publishes once during the
 * flood. Meanwhile the node's RSS is sampled and its control API asked for
 * `/api/status` back to back.
 */
import { decodeMessage } from '../../protocol/index.ts'
import { findNode } from '../../node/control/client.ts'
import { limitsPath, type NodeLimits } from '../../node/limits-file.ts'
import { writeFile } from 'node:fs/promises'
import { readFileSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import Database from 'better-sqlite3'
import { tempDir } from './fixtures.ts'
import { spawnTs, type TestProcess } from './processes.ts'
import { baselineDone, rawPublishMessage, rawSign, resultFor, sleep, startRawPeer, startTrainer, untilSubscribed } from './swarm-procs.ts'

export interface FloodOptions {
  keys: number
  messages: number
  backlog: number
  minBytes: number
  maxBytes: number
  limits: NodeLimits
}

export interface FloodFigures {
  sent: number
  /** Copies GossipSub handed to peers (the node among them). */
  delivered: number
  floodMs: number
  synced: number | null
  store: { bytes: number, messages: number, authors: number, fileBytes: number, invalid: number }
  rssMb: { before: number, max: number, after: number }
  latencyMs: { n: number, p50: number, p99: number, max: number, slowest: Array<[number, number]> }
  /** The same questions for a few seconds before the attack: what the machine's load alone costs. */
  quietLatencyMs: { n: number, p50: number, p99: number, max: number }
  loadAverage: number
  honestDuringFlood: boolean
  alive: boolean
  notes: string[]
  /** The node's swarm events during the run, by type (received, rejected, synced…). */
  events: Record<string, number>
}

export function rssMb (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m == null ? NaN : Math.round(Number(m[1]) / 1024)
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]!
}

/** What the node's store holds, read beside it (WAL lets a reader in while it writes). */
export async function storeFigures (home: string, project: string): Promise<FloodFigures['store']> {
  const dir = join(home, 'store', project)
  const db = new Database(join(dir, 'store.db'), { readonly: true, fileMustExist: true })
  try {
    const t = db.prepare('SELECT bytes, messages FROM totals').get() as { bytes: number, messages: number }
    const authors = (db.prepare('SELECT COUNT(*) AS n FROM authors').get() as { n: number }).n
    let invalid = 0
    // Nothing invalid is stored: every row decodes and verifies as a peer's message would, byte for byte.
    for (const { body } of db.prepare('SELECT body FROM messages').all() as Array<{ body: string }>) {
      try {
        await decodeMessage(new TextEncoder().encode(body), { expectProject: project })
      } catch { invalid++ }
    }
    const size = (f: string): number => existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0
    return { bytes: t.bytes, messages: t.messages, authors, fileBytes: size('store.db') + size('store.db-wal'), invalid }
  } finally {
    db.close()
  }
}

export async function runFlood (o: FloodOptions): Promise<FloodFigures & { stop: () => Promise<void> }> {
  const home = await tempDir('flood-home')
  await writeFile(limitsPath(home), JSON.stringify(o.limits))
  const h = await startTrainer('H', { proposer: 'none', home })
  await h.proc.waitFor(baselineDone, 60_000, 'the baseline')
  const pid = h.proc.child.pid!
  const control = await findNode(home)
  if (control == null) throw new Error('the node wrote no control file')

  // An honest peer the node knows before the flood starts.
  const honest = await startRawPeer('honest', { project: h.project, bootstrap: [h.addr!] })
  await untilSubscribed(honest, [h.peerId])
  const body = (description: string): ReturnType<typeof resultFor> => resultFor({ project: h.project, track: h.track, parent: 'a'.repeat(64), child: 'b'.repeat(64), val_bpb: 1.3, status: 'discard', description })
  const first = await rawSign(honest, body('honest before'))
  await rawPublishMessage(honest, first)
  await h.proc.waitFor(e => e.type === 'swarm:received' && e.author === honest.peerId, 15_000, 'the honest result')

  const x: TestProcess = spawnTs('hostile', 'tests/helpers/hostile-peer.ts', [JSON.stringify({ project: h.project, storeDir: await tempDir('hostile') })])
  await x.waitFor(l => l.type === 'ready', 30_000, { what: 'ready' })
  await x.ask({ cmd: 'keys', n: o.keys }, 120_000)
  if (o.backlog > 0) await x.ask({ cmd: 'fill', count: o.backlog, bytes: 2000 }, 300_000)

  const quiet: number[] = []
  for (const end = Date.now() + 3000; Date.now() < end;) {
    const t0 = performance.now()
    try { await control.get('/api/status', {}, 10_000) } catch {}
    quiet.push(performance.now() - t0)
    await sleep(20)
  }
  const before = rssMb(pid)
  let maxRss = before
  const latencies: number[] = []
  const at: number[] = []
  const start = Date.now()
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      maxRss = Math.max(maxRss, rssMb(pid))
      const t0 = performance.now()
      try { await control.get('/api/status', {}, 10_000) } catch {}
      latencies.push(performance.now() - t0)
      at.push(Date.now() - start)
      await sleep(20)
    }
  })()

  // The sync backlog: the node syncs with every peer that serves sync, as soon as it identifies it.
  const from = h.proc.events.length
  const xPeer = x.lines.find(l => l.type === 'ready')!.peerId as string
  await x.ask({ cmd: 'dial', addr: h.addr }, 15_000)
  let synced: number | null = null
  if (o.backlog > 0) synced = (await h.proc.waitFor(e => e.type === 'swarm:synced' && e.peer === xPeer, 60_000, 'the sync with the hostile peer', from)).added
  for (let i = 0; i < 100; i++) {
    if (((await x.ask({ cmd: 'subscribers' })).peers as string[]).includes(h.peerId)) break
    await sleep(100)
  }

  const flood = x.ask({ cmd: 'flood', count: o.messages, minBytes: o.minBytes, maxBytes: o.maxBytes, seed: 7 }, 600_000)
  // The honest peer speaks while the flood is on.
  await sleep(300)
  const during = await rawSign(honest, body('honest during the flood'))
  const fromHonest = h.proc.events.length
  await rawPublishMessage(honest, during)
  const res = await flood
  const honestDuringFlood = await h.proc.waitFor(e => e.type === 'swarm:received' && e.author === honest.peerId, 15_000, 'the honest result during the flood', fromHonest).then(() => true, () => false)
  // What was in flight settles.
  await sleep(2000)
  sampling = false
  await sampler
  const after = rssMb(pid)

  const figures: FloodFigures = {
    sent: res.sent,
    delivered: res.delivered,
    floodMs: res.ms,
    synced,
    store: await storeFigures(home, h.project),
    rssMb: { before, max: maxRss, after },
    latencyMs: { n: latencies.length, p50: Math.round(pct(latencies, 50)), p99: Math.round(pct(latencies, 99)), max: Math.round(Math.max(...latencies)), slowest: latencies.map((l, i) => [at[i]!, Math.round(l)] as [number, number]).sort((a, b) => b[1] - a[1]).slice(0, 5) },
    quietLatencyMs: { n: quiet.length, p50: Math.round(pct(quiet, 50)), p99: Math.round(pct(quiet, 99)), max: Math.round(Math.max(...quiet)) },
    loadAverage: loadavg()[0]!,
    honestDuringFlood,
    alive: h.proc.alive,
    notes: h.proc.filter(e => e.type === 'swarm:note').map(e => String(e.message)).filter(m => m.startsWith('rate limits')),
    events: h.proc.events.slice(from).reduce<Record<string, number>>((n, e) => { n[e.type] = (n[e.type] ?? 0) + 1; return n }, {})
  }
  return { ...figures, stop: async () => { await x.kill() } }
}
