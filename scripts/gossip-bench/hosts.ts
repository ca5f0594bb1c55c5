/**
 * Simulated hosts for `bench:gossip --netns H`: H network namespaces, each
 * with a one-way delay, spread evenly so that the round trip between two
 * hosts (the sum of their delays) covers the range asked (default 20-80 ms).
 * Nodes on the same host talk over its own address, without delay, as
 * processes on one machine do.
 *
 * The delay is tc netem's on each host's link to a bridge, where the kernel
 * has sch_netem; where it does not (some VM kernels), each host gets a TUN
 * device instead and `wire.py` carries packets between them after the same
 * delays. Either way the bench says which.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Netns } from '../netns.ts'

/** A simulated host: its namespace, the addresses its nodes take (one each), its one-way delay. */
export interface Host { ns: string, ips: string[], delayMs: number }
export interface Hosts { hosts: Host[], delay: 'netem' | 'wire', close: () => Promise<void> }

const TUN = 'snpbt'
/**
 * Host h has 10.77.h.0/24 inside 10.77.0.0/16: private on purpose. libp2p
 * tells peers only addresses it has verified, and verifies private ones
 * without asking; public-looking ones would wait for AutoNAT, which this bench
 * (about gossip, not NATs) leaves out.
 */
const SUBNET = '10.77'
/** Addresses per host, one per node: 10.77.h.10 and up. */
const IPS_PER_HOST = 64

export async function buildHosts (net: Netns, count: number, rttMs: [number, number]): Promise<Hosts> {
  if (count > 200) throw new Error('--netns: at most 200 hosts')
  const [lo, hi] = [rttMs[0] / 2, rttMs[1] / 2]
  const delays = Array.from({ length: count }, (_, i) => count === 1 ? lo : Math.round(lo + (hi - lo) * i / (count - 1)))
  const ipsOf = (h: number): string[] => Array.from({ length: IPS_PER_HOST }, (_, k) => `${SUBNET}.${h}.${10 + k}`)
  // One `ip -batch` per host: hundreds of `ip` runs take a while on a busy machine.
  const addAll = async (ns: string, dev: string, ips: string[]): Promise<void> => {
    const file = join(tmpdir(), `${ns}-addrs.batch`)
    await writeFile(file, ips.map(ip => `addr add ${ip}/16 dev ${dev}\n`).join(''))
    try { await net.exec(ns, ['ip', '-batch', file]) } finally { await rm(file, { force: true }) }
  }
  if (await netemWorks(net)) {
    await net.internet()
    const hosts: Host[] = []
    for (const [h, delayMs] of delays.entries()) {
      const { ns, iface } = await net.publicHost(`h${h}`, `${SUBNET}.${h}.1`, 16)
      await addAll(ns, iface, ipsOf(h))
      await net.delay(ns, iface, delayMs)
      hosts.push({ ns, ips: ipsOf(h), delayMs })
    }
    return { hosts, delay: 'netem', close: async () => {} }
  }
  const hosts: Host[] = []
  for (const [h, delayMs] of delays.entries()) {
    const ns = await net.ns(`h${h}`)
    await net.exec(ns, ['ip', 'tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await net.exec(ns, ['ip', 'link', 'set', TUN, 'up'])
    await addAll(ns, TUN, [`${SUBNET}.${h}.1`, ...ipsOf(h)])
    hosts.push({ ns, ips: ipsOf(h), delayMs })
  }
  const wire = await startWire(hosts)
  return {
    hosts,
    delay: 'wire',
    close: async () => {
      wire.stdin?.end()
      const t = setTimeout(() => wire.kill('SIGKILL'), 5000)
      await new Promise(resolve => wire.once('exit', resolve))
      clearTimeout(t)
    }
  }
}

/** Whether this kernel has sch_netem (tried on a scratch namespace). */
async function netemWorks (net: Netns): Promise<boolean> {
  const ns = await net.ns('probe')
  try {
    await net.exec(ns, ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'])
    return true
  } catch {
    return false
  } finally {
    await net.remove(ns)
  }
}

async function startWire (hosts: Host[]): Promise<ChildProcess> {
  const cfg = { hosts: hosts.map((h, i) => ({ ns: h.ns, dev: TUN, subnet: `${SUBNET}.${i}`, delay_ms: h.delayMs })) }
  const wire = spawn('python3', [new URL('./wire.py', import.meta.url).pathname, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: wire.stdout! })
    const timer = setTimeout(() => reject(new Error('wire.py did not get ready in 10 s')), 10_000)
    lines.once('line', line => { clearTimeout(timer); line === 'ready' ? resolve() : reject(new Error(`wire.py: ${line}`)) })
    wire.once('exit', code => { clearTimeout(timer); reject(new Error(`wire.py exited (code ${code})`)) })
  })
  return wire
}
