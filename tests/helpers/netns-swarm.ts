/**
 * Swarm processes on simulated hosts (tests/helpers/netns.ts): stand-ins for
 * the Amino DHT's bootstrap peers, and real `swarm-node` processes, each in
 * its network namespace, listening on the host's addresses (not loopback),
 * mDNS and UPnP off, and pointed at the stand-ins with `--amino-bootstrap`.
 *
 *   const amino = await startAminoStandins(dht.ns, dht.ip, 3)
 *   const r = await startNsTrainer('R', r.ns, { amino: amino.addrs, proposer: 'none' })
 *   const s = await nsStatus(r)          // `swarm-node status --json` inside the namespace
 */
import { spawn } from 'node:child_process'
import { fixtureCopy, pathWithFakeUv, tempDir } from './fixtures.ts'
import { REPO_ROOT, spawnTs, type TestProcess } from './processes.ts'
import { BIN, CliProc } from './swarm-procs.ts'

export const SWARM_PORT = 4011

export interface Standins { proc: TestProcess, addrs: string[] }

/** `count` plain kad-dht nodes on `/ipfs/kad/1.0.0` at `ip`, ports 4001.. */
export async function startAminoStandins (ns: string, ip: string, count = 3): Promise<Standins> {
  const listen = Array.from({ length: count }, (_, i) => `/ip4/${ip}/tcp/${4001 + i}`)
  const proc = spawnTs(`amino@${ns}`, 'tests/helpers/amino-standin.ts', [JSON.stringify({ listen })], {}, ns)
  const ready = await proc.waitFor(l => l.type === 'ready', 30_000, { what: 'stand-ins ready' })
  return { proc, addrs: ready.addrs }
}

export interface NsNodeOptions {
  amino: string[]
  proposer?: 'mutation' | 'none'
  seed?: number
  confirm?: boolean
  adopt?: boolean
  extra?: string[]
}

export interface NsTrainer { name: string, ns: string, proc: CliProc, dir: string, home: string, peerId: string, project: string, args: string[] }

function networkArgs (o: NsNodeOptions): string[] {
  return ['--listen', `/ip4/0.0.0.0/tcp/${SWARM_PORT}`, '--no-mdns', '--no-upnp', ...o.amino.flatMap(a => ['--amino-bootstrap', a])]
}

/** `swarm-node start` on a fresh copy of the autoresearch fixture, inside `ns`. */
export async function startNsTrainer (name: string, ns: string, o: NsNodeOptions): Promise<NsTrainer> {
  const dir = await fixtureCopy('autoresearch')
  const home = await tempDir(`home-${name}`)
  const args = ['--home', home, '--json', 'start', '--project', dir, ...networkArgs(o)]
  if (o.proposer != null) args.push('--proposer', o.proposer)
  if (o.seed != null) args.push('--seed', String(o.seed))
  if (o.confirm === false) args.push('--no-confirm')
  if (o.adopt === false) args.push('--no-adopt')
  args.push(...(o.extra ?? []))
  const proc = new CliProc(name, args, { netns: ns })
  const session = await proc.waitFor(e => e.type === 'session', 60_000, 'session')
  await proc.waitFor(e => e.type === 'listening', 30_000, 'listening')
  return { name, ns, proc, dir, home, peerId: session.peerId, project: session.project, args }
}

export interface NsBootstrap { name: string, ns: string, proc: CliProc, home: string, peerId: string, args: string[] }

/** `swarm-node bootstrap` inside `ns`: a hub that relays for nodes behind NATs. */
export async function startNsBootstrap (name: string, ns: string, o: Pick<NsNodeOptions, 'amino'>): Promise<NsBootstrap> {
  const home = await tempDir(`boot-${name}`)
  const args = ['--home', home, '--json', 'bootstrap', ...networkArgs(o)]
  const proc = new CliProc(name, args, { netns: ns })
  const listening = await proc.waitFor(e => e.type === 'listening', 30_000, 'listening')
  return { name, ns, proc, home, peerId: listening.peerId, args }
}

/** `swarm-node status --json` of a node, run inside its namespace (its control API is on that namespace's loopback). */
export async function nsStatus (t: Pick<NsTrainer, 'ns' | 'home'>): Promise<any> {
  return await nsCli(t, ['status'])
}

/** `swarm-node peers --json`: the node's links, each with `link` (direct or relayed, and the transport). */
export async function nsPeers (t: Pick<NsTrainer, 'ns' | 'home'>): Promise<any[]> {
  return (await nsCli(t, ['peers'])).peers
}

async function nsCli (t: Pick<NsTrainer, 'ns' | 'home'>, command: string[], timeoutMs = 40_000): Promise<any> {
  const child = spawn('ip', ['netns', 'exec', t.ns, process.execPath, BIN, '--home', t.home, '--json', ...command], {
    cwd: REPO_ROOT,
    env: { ...process.env, PATH: pathWithFakeUv() },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout.on('data', d => { out += String(d) })
  child.stderr.on('data', d => { err += String(d) })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${command.join(' ')} in ${t.ns} exited ${code}: ${err || out}`)
  return JSON.parse(out)
}
