/**
 * One `bench:gossip` run: N nodes over K processes (and H simulated hosts),
 * node 0 the bootstrap; formation (every node linked to >= min(4, N-1)
 * peers with a non-empty mesh for the topic; nodes still without any link
 * `rescueMs` into it dial the bootstrap once more themselves, counted);
 * settle (until every event loop goes quiet: the start-up storm of handshakes,
 * identify and DHT walks would otherwise land in the latencies); then M signed
 * results from random nodes, 100-200 ms apart, and up to 5 s for stragglers.
 */
import { randomBytes } from 'node:crypto'
import type { Host } from './hosts.ts'
import { now, type HostStatus, type NodeStatus, type Published } from './nodes.ts'
import { percentile, spread, utilization, type Stats } from './report.ts'
import { inProcess, startWorker, type NodesHandle } from './worker.ts'

/** After the last publish, missing deliveries are waited for this long. */
export const GRACE_MS = 5_000
export const PUBLISH_GAP_MS: [number, number] = [100, 200]
/** Settle: publishing starts when every process's event-loop utilisation over a window is below this. */
export const SETTLE_ELU = 0.5
export const SETTLE_WINDOW_MS = 500
export const SETTLE_QUIET_WINDOWS = 2

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export interface Topology {
  connections: Stats
  /** Connection opens summed over all nodes (each connection counts at both ends). */
  opened: number
  /** Inbound connections refused by connection managers, all nodes / the bootstrap node. */
  refused: number
  bootstrapRefused: number
  mesh: Stats
  subscribers: Stats
}

export interface RunResult {
  nodes: number
  processes: number
  /** Simulated hosts (0: loopback) and their one-way delays. */
  hosts: Array<{ ns: string, delayMs: number }>
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

export interface RunOptions {
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
  /** Simulated hosts (--netns): worker w runs in hosts[w % hosts.length]; none: loopback. */
  hosts?: Host[]
}

export async function runOnce (o: RunOptions): Promise<RunResult> {
  const { n, processes, messages, formationTimeoutMs, rescueMs, settleMs, joinGapMs, verbose } = o
  const project = randomBytes(32).toString('hex')
  const hosts = o.hosts ?? []
  const hostOf = (w: number): { ns?: string, ips: string[] } => hosts.length > 0 ? hosts[w % hosts.length]! : { ips: ['127.0.0.1'] }
  const handles: NodesHandle[] = []
  // node index -> handle
  const owner: NodesHandle[] = []
  try {
    if (processes <= 1 && hosts.length === 0) handles.push(inProcess())
    else for (let w = 0; w < Math.max(processes, hosts.length); w++) handles.push(await startWorker(`worker ${w}`, hostOf(w).ns))
    // Node 0, the bootstrap, has a process (and host) to itself when there are several, as a bootstrap
    // node has a machine to itself; the others go in contiguous blocks over the rest.
    const blocks: number[][] = handles.map(() => [])
    const rest = handles.length > 1 ? handles.length - 1 : 1
    for (let i = 0; i < n; i++) {
      const w = i === 0 ? 0 : handles.length > 1 ? 1 + Math.floor((i - 1) * rest / (n - 1)) : 0
      blocks[w]!.push(i)
      owner[i] = handles[w]!
    }
    const baselines = await Promise.all(handles.map(async h => await h.call('baseline')))
    // Workers sharing a host share its addresses: hand each worker its own share of them.
    await Promise.all(handles.map(async (h, w) => {
      const { ips } = hostOf(w)
      const share = hosts.length > 0 ? ips.filter((_, k) => k % Math.ceil(handles.length / hosts.length) === Math.floor(w / hosts.length)) : ips
      await h.call('init', project, share)
    }))

    const cpuAt = async (): Promise<number> => (await Promise.all(handles.map(async h => (await h.call('status')).cpuMs)).then(xs => xs.reduce((a, b) => a + b, 0)))
    const cpuStart = await cpuAt()
    const t0 = now()
    const [boot] = await handles[0]!.call('create', [0])
    const bootstrap = boot!.addr.includes('/p2p/') ? boot!.addr : `${boot!.addr}/p2p/${boot!.peerId}`
    if (joinGapMs === 0) {
      await Promise.all(handles.map(async (h, w) => await h.call('create', blocks[w]!.filter(i => i !== 0), bootstrap)))
    } else {
      // One node at a time, joinGapMs apart: a swarm grows, it does not appear at once.
      for (let i = 1; i < n; i++) {
        const tNext = t0 + i * joinGapMs
        await sleep(Math.max(0, tNext - now()))
        await owner[i]!.call('create', [i], bootstrap)
      }
    }
    const startMs = now() - t0
    process.stdout.write(`  N=${n} procs=${processes}: ${n} nodes started in ${startMs.toFixed(0)} ms; waiting for topology and mesh`)

    // Formation: every node >= min(4, N-1) connections and a non-empty mesh.
    const target = Math.min(4, n - 1)
    const tForm = now()
    let eluPrev = (await Promise.all(handles.map(async h => (await h.call('status')).elu)))
    const eluNow = async (): Promise<string> => {
      const cur = await Promise.all(handles.map(async h => (await h.call('status')).elu))
      const u = cur.map((c, i) => utilization(eluPrev[i]!, c))
      eluPrev = cur
      return u.map(x => x.toFixed(2)).join('/')
    }
    let formed = false
    let last: NodeStatus[] = []
    let lastPrint = now()
    let rescue: RunResult['rescue'] = null
    while (now() - tForm < formationTimeoutMs) {
      last = (await Promise.all(handles.map(async h => (await h.call('status')).nodes))).flat()
      if (last.length === n && last.every(s => s.connections >= target && s.mesh >= 1)) { formed = true; break }
      if (rescueMs > 0 && rescue == null && now() - tForm >= rescueMs && last.some(s => s.connections === 0)) {
        // Not awaited in the loop: the rescue dials may take their full timeout.
        const atMs = now() - tForm
        rescue = { atMs, tried: [], ok: [], errors: [] }
        const r = rescue
        void Promise.all(handles.map(async h => await h.call('rescue', bootstrap))).then(results => {
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
      let prev = await Promise.all(handles.map(async h => (await h.call('status')).elu))
      let prevLine = false
      let quietWindows = 0
      while (now() - tSettle < settleMs) {
        await sleep(SETTLE_WINDOW_MS)
        const cur = await Promise.all(handles.map(async h => (await h.call('status')).elu))
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
    const statusStart = await Promise.all(handles.map(async h => await h.call('status')))
    const eluStart = statusStart.map(st => st.elu)
    const cpuPublish = statusStart.reduce((a, st) => a + st.cpuMs, 0)
    // Publish M signed results from random nodes.
    const published: Array<Published & { k: number, publisher: number }> = []
    for (let k = 0; k < messages; k++) {
      const publisher = Math.floor(Math.random() * n)
      const p = await owner[publisher]!.call('publish', publisher, k)
      published.push({ ...p, k, publisher })
      await sleep(PUBLISH_GAP_MS[0] + Math.random() * (PUBLISH_GAP_MS[1] - PUBLISH_GAP_MS[0]))
    }
    const expected = messages * (n - 1)
    const tLast = now()
    while (now() - tLast < GRACE_MS) {
      const c = (await Promise.all(handles.map(async h => await h.call('counts')))).reduce((a, b) => a + b.arrivals, 0)
      if (c >= expected) break
      await sleep(50)
    }

    const deliveryEndMs = now() - tLast
    // Collect.
    const statusEnd = await Promise.all(handles.map(async h => await h.call('status')))
    const publishElu = statusEnd.map((st, i) => utilization(eluStart[i]!, st.elu))
    const cpuEnd = statusEnd.reduce((a, st) => a + st.cpuMs, 0)
    const counts = await Promise.all(handles.map(async h => await h.call('counts')))
    const arrivals = (await Promise.all(handles.map(async h => await h.call('arrivalList')))).flat()
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

    const stopStuck = (await Promise.all(handles.map(async h => await h.call('stop')))).reduce((a, b) => a + b, 0)
    return {
      nodes: n,
      processes: handles.length,
      hosts: hosts.map(h => ({ ns: h.ns, delayMs: h.delayMs })),
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
    await Promise.all(handles.map(async h => { await h.call('stop').catch(() => {}); await h.close() }))
  }
}
