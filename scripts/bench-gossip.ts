// How fast and how completely does a swarm gossip signed results?
// N real swarm nodes (node 0 the bootstrap; peer exchange forms the topology)
// publish M real signed `result` messages from random nodes; every node
// validates them with the real checks and notes when each arrived. The run
// itself (formation, settle, publish, collect) is in gossip-bench/run.ts, the
// nodes of one process in gossip-bench/nodes.ts, worker processes in
// gossip-bench/worker.ts, simulated hosts in gossip-bench/hosts.ts.
//
//   npm run bench:gossip -- [--nodes 10,30] [--messages 20] [--processes 1[,K]]
//        [--netns H] [--rtt 20,80] [--json-out bench-results/gossip.json]
//        [--formation-timeout-ms 45000] [--rescue-ms 20000] [--settle-ms 10000]
//        [--join-gap-ms 0] [--verbose]
//
// Loopback by default: every node on 127.0.0.1, in this process (--processes 1)
// or spread over K worker processes. --netns H spreads the workers over H
// simulated hosts (network namespaces, root only), each with a delay so the
// round trip between two hosts lies in --rtt (ms): tc netem where the kernel
// has it, else gossip-bench/wire.py; e.g. `--nodes 100 --processes 10 --netns 10`.
// Each (N, K) pair is one run.
//
// Prints a table and writes the JSON. mDNS off, nothing leaves loopback and
// the bench's own namespaces (SWARM_NODE_PUBLIC_BOOTSTRAP is set empty for
// every process); every phase has a timeout, a watchdog ends a hung run, and
// the namespaces are removed at the end, also after a failure.

import '../node/polyfills.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Netns, netnsUnavailable } from './netns.ts'
import { buildHosts, type Host, type Hosts } from './gossip-bench/hosts.ts'
import { now } from './gossip-bench/nodes.ts'
import { table } from './gossip-bench/report.ts'
import { GRACE_MS, PUBLISH_GAP_MS, SETTLE_ELU, SETTLE_QUIET_WINDOWS, SETTLE_WINDOW_MS, runOnce, type RunResult } from './gossip-bench/run.ts'

const root = join(import.meta.dirname, '..')
/** Per run on top of its own timeouts, for the watchdog. */
const WATCHDOG_SLACK_MS = 60_000
/** Namespaces, veths and bridges of this bench carry this prefix. */
const NETNS_PREFIX = 'snpb'

// A benchmark never dials the public bootstrap peers (empty = none); its workers inherit this.
process.env.SWARM_NODE_PUBLIC_BOOTSTRAP = ''


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
      netns: { type: 'string', default: '0' },
      rtt: { type: 'string', default: '20,80' },
      verbose: { type: 'boolean', default: false }
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
  const hostCount = Number(values.netns)
  if (!Number.isInteger(hostCount) || hostCount < 0) throw new Error('--netns: a whole number of hosts >= 0')
  const rtt = values.rtt.split(',').map(Number) as [number, number]
  if (rtt.length !== 2 || !rtt.every(x => Number.isFinite(x) && x >= 0) || rtt[0] > rtt[1]) throw new Error('--rtt: two round-trip times in ms, low,high')

  // Every run is bounded by its phases' timeouts; past the sum (plus slack) something hangs.
  const watchdogMs = nodeCounts.reduce((a, n) => a + processCounts.length * (n * joinGapMs + formationTimeoutMs + settleMs + messages * PUBLISH_GAP_MS[1] + GRACE_MS + WATCHDOG_SLACK_MS), 0)
  const net = new Netns(NETNS_PREFIX)
  let closeHosts = async (): Promise<void> => {}
  const watchdog = setTimeout(() => {
    console.error(`bench-gossip: watchdog fired after ${(watchdogMs / 1000).toFixed(0)} s; exiting (workers stop their nodes when this process goes)`)
    void closeHosts().finally(async () => { await net.destroy(); process.exit(1) })
  }, watchdogMs)
  watchdog.unref()

  // Other work on the machine shows up directly in formation and latency: say how busy it was.
  const loadBefore = loadavg()
  console.log(`bench-gossip: nodes ${nodeCounts.join(',')}, ${messages} messages, processes ${processCounts.join(',')}, ${cpus().length} cpus, node ${process.version}, load average ${loadBefore.map(x => x.toFixed(2)).join(' ')}`)
  if (loadBefore[0]! > cpus().length) console.log(`  note: the machine is already busy (1-min load ${loadBefore[0]!.toFixed(2)} on ${cpus().length} cpus); expect slower formation and longer tails`)
  let hosts: Host[] = []
  let delay: Hosts['delay'] | null = null
  const results: RunResult[] = []
  const t0 = now()
  try {
    if (hostCount > 0) {
      const why = await netnsUnavailable()
      if (why != null) throw new Error(`--netns: ${why}`)
      await net.clear()
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { void closeHosts().finally(async () => { await net.destroy(); process.exit(130) }) })
      const built = await buildHosts(net, hostCount, rtt)
      hosts = built.hosts
      delay = built.delay
      closeHosts = built.close
      console.log(`  ${hostCount} hosts (namespaces ${NETNS_PREFIX}-h*), one-way delays ${hosts.map(h => h.delayMs).join('/')} ms (${delay === 'netem' ? 'tc netem' : 'wire.py: this kernel has no sch_netem'}): RTT between hosts ${rtt[0]}-${rtt[1]} ms`)
    }
    for (const n of nodeCounts) {
      for (const k of processCounts) {
        const r = await runOnce({ n, processes: Math.min(Math.max(k, hostCount), n), messages, formationTimeoutMs, rescueMs, settleMs, joinGapMs, verbose: values.verbose, hosts })
        results.push(r)
        console.log(`  N=${n} procs=${r.processes}${hostCount > 0 ? ` hosts=${hostCount}` : ''}: delivered ${r.delivered}/${r.expected}, tta p50 ${r.timeToAllMs.p50.toFixed(1)} ms, p99 ${r.timeToAllMs.p99.toFixed(1)} ms${r.rejected > 0 ? `, ${r.rejected} REJECTED` : ''}${r.stopStuck > 0 ? `, ${r.stopStuck} nodes did not stop` : ''}`)
      }
    }
  } finally {
    await closeHosts()
    await net.destroy()
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
      hosts: hostCount > 0 ? { count: hostCount, rttMs: rtt, oneWayDelaysMs: hosts.map(h => h.delayMs), delay } : 'loopback',
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
