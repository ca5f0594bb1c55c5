/**
 * One arm of the benchmark: eight `swarm-node start` processes started at once,
 * each on its own copy of the landscape project, in groups: isolated nodes
 * (`--offline`), or private swarms on 127.0.0.1 (a pre-shared key per group,
 * mDNS off, every member given the others as bootstrap addresses, so a group's
 * nodes find each other and nobody else). The arm ends when every group has a
 * node whose baseline reached the target, or `seconds` after its first node
 * began to research.
 */
import { generateKey } from '@libp2p/pnet'
import { cp, mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../../node/identity.ts'
import type { Scorer } from './landscape.ts'
import { NodeProcess, type Ev } from './node-process.ts'

export interface ArmSpec {
  name: string
  /** Group sizes; isolated arms are groups of one. */
  groups: number[]
  swarm: boolean
}

export interface NodeRun {
  name: string
  /** Index of its group in the arm. */
  group: number
  /** Seed of its mutation proposer: node i of a seed gets the same one in every arm. */
  proposerSeed: number
  dir: string
  spawnedAt: number
  events: Ev[]
  exitCode: number | null
  /** CPU seconds it used from its first baseline's end to the arm's end: itself, and its training runs and git. */
  cpu: { self: number, children: number } | null
}

export interface ArmRun {
  spec: ArmSpec
  seed: number
  nodes: NodeRun[]
  endedAt: number
  /** Why it ended: every group reached the target, or the time was up. */
  ended: 'target' | 'time' | 'exited'
}

export interface ArmOptions {
  spec: ArmSpec
  /** How long the first node may take to finish its baseline (default RESEARCH_START_TIMEOUT_MS). */
  startTimeoutMs?: number
  seed: number
  seconds: number
  /** The group's goal: a baseline value at or below it (null: no goal, the arm runs its time). */
  target: number | null
  project: string
  root: string
  logs: string
  /** The value of a node's baseline, by content (the landscape's noiseless one; elsewhere the node's own figure). */
  scorer: Pick<Scorer, 'score'>
  /** More `start` flags for every node (e.g. --budget 60). */
  extraArgs?: string[]
  say: (line: string) => void
}

const RESEARCH_START_TIMEOUT_MS = 180_000

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

interface Member { name: string, group: number, dir: string, home: string, port: number, peerId: string, proposerSeed: number }

async function prepare (o: ArmOptions): Promise<{ members: Member[], keys: string[] }> {
  const base = join(o.root, `${o.spec.name}-seed${o.seed}`)
  const members: Member[] = []
  const keys: string[] = []
  let i = 0
  for (const [group, size] of o.spec.groups.entries()) {
    const key = join(base, `group${group}.key`)
    const psk = new Uint8Array(95)
    generateKey(psk)
    await mkdir(base, { recursive: true })
    await writeFile(key, psk, { mode: 0o600 })
    keys.push(key)
    for (let k = 0; k < size; k++, i++) {
      const dir = join(base, `n${i}`, 'project')
      const home = join(base, `n${i}`, 'home')
      await cp(o.project, dir, { recursive: true, filter: src => !src.includes('__pycache__') })
      const { peerId } = await loadOrCreateIdentity(home)
      members.push({ name: `n${i}`, group, dir, home, port: await freePort(), peerId, proposerSeed: 1000 * o.seed + i + 1 })
    }
  }
  return { members, keys }
}

function args (m: Member, all: Member[], key: string, swarm: boolean, extra: string[]): string[] {
  const common = ['--home', m.home, '--json', 'start', '--project', m.dir, '--proposer', 'mutation', '--seed', String(m.proposerSeed), '--tag', 'bench', ...extra]
  if (!swarm) return [...common, '--offline']
  const others = all.filter(x => x.group === m.group && x !== m)
  return [...common, '--listen', `/ip4/127.0.0.1/tcp/${m.port}`, '--no-mdns', '--swarm-key', key,
    ...others.flatMap(x => ['--bootstrap', `/ip4/127.0.0.1/tcp/${x.port}/p2p/${x.peerId}`])]
}

export async function runArm (o: ArmOptions): Promise<ArmRun> {
  const { members, keys } = await prepare(o)
  await mkdir(o.logs, { recursive: true })
  const reached = new Set<number>()
  let researchFrom: number | null = null
  let finish: (why: ArmRun['ended']) => void = () => {}
  const done = new Promise<ArmRun['ended']>(resolve => { finish = resolve })
  let deadline: NodeJS.Timeout | undefined

  // CPU read when each node's research begins, so start-up (tsx, libp2p) is not counted as research.
  const cpuAtStart = new Map<string, { self: number, children: number } | null>()
  const procs: NodeProcess[] = members.map(m => new NodeProcess(m.name, args(m, members, keys[m.group]!, o.spec.swarm, o.extraArgs ?? []), join(o.logs, `${o.spec.name}-seed${o.seed}-${m.name}.jsonl`), (e: Ev) => {
    if (e.type !== 'experiment-end') return
    const r = e.record
    if (r.status === 'baseline' && !cpuAtStart.has(m.name)) cpuAtStart.set(m.name, procs.find(p => p.name === m.name)?.cpu() ?? null)
    if (r.status === 'baseline' && researchFrom == null) {
      researchFrom = r.finished_at as number
      deadline = setTimeout(() => finish('time'), Math.max(0, researchFrom + o.seconds * 1000 - Date.now()))
    }
    if (r.status !== 'baseline' && r.status !== 'keep' && r.status !== 'adopted' && r.status !== 'restored') return
    void o.scorer.score(m.dir, r.commit, r.child, r).then(v => {
      if (v == null || o.target == null || v > o.target || reached.has(m.group)) return
      reached.add(m.group)
      o.say(`  ${o.spec.name} seed ${o.seed}: group ${m.group} (${m.name}) reached ${v.toFixed(4)} at ${((r.finished_at - (researchFrom ?? r.finished_at)) / 1000).toFixed(0)} s`)
      if (reached.size === o.spec.groups.length) finish('target')
    }, err => o.say(`  scoring ${m.name}'s ${String(r.commit).slice(0, 7)} failed: ${err.message}`))
  }))
  const startGuard = setTimeout(() => { if (researchFrom == null) finish('exited') }, o.startTimeoutMs ?? RESEARCH_START_TIMEOUT_MS)
  void Promise.all(procs.map(async p => await p.exited)).then(() => finish('exited'))

  const ended = await done
  const endedAt = Date.now()
  clearTimeout(deadline)
  clearTimeout(startGuard)
  const cpu = procs.map(p => {
    const end = p.cpu(); const start = cpuAtStart.get(p.name)
    return end == null || start == null ? null : { self: end.self - start.self, children: end.children - start.children }
  })
  const codes = await Promise.all(procs.map(async p => await p.stop()))
  if (researchFrom == null) throw new Error(`${o.spec.name} seed ${o.seed}: no node began to research\n${procs.map(p => `--- ${p.name}\n${p.tail()}`).join('\n')}`)
  return {
    spec: o.spec,
    seed: o.seed,
    endedAt,
    ended,
    nodes: procs.map((p, i) => ({ name: p.name, group: members[i]!.group, proposerSeed: members[i]!.proposerSeed, dir: members[i]!.dir, spawnedAt: p.spawnedAt, events: p.events, exitCode: codes[i]!, cpu: cpu[i]! }))
  }
}
