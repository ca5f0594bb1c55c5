/**
 * `swarm-node` CLI processes for swarm integration tests: a bootstrap node and
 * trainers on the autoresearch fixture, each its own OS process on 127.0.0.1
 * with mDNS off, read through their `--json` event lines.
 *
 *   const boot = await startBootstrap()
 *   const a = await startTrainer('A', { bootstrap: [boot.addr], seed: 12 })
 *   const end = await a.proc.waitFor(e => e.type === 'experiment-end' && e.record.status === 'keep', 20_000, 'a keep')
 *   await stopAll()
 *
 * Every process is registered; `stopAll()` (SIGTERM, then SIGKILL) belongs in
 * afterEach/afterAll, and the runner's exit SIGKILLs whatever is left.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { simpleGit } from 'simple-git'
import { encodeMessage, messageId, type AttestationMsg, type Message, type ResultMsg, type Signed, type Unsigned } from '../../protocol/index.ts'
import { FIXTURES, fixtureCopy, pathWithFakeUv, tempDir } from './fixtures.ts'
import { REPO_ROOT, killAll, spawnTs, type TestProcess } from './processes.ts'

export const BIN = join(REPO_ROOT, 'bin', 'swarm-node.js')
export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

/** One `--json` line: `type`, ISO `time`, and the event's fields. */
export type Ev = { type: string, time: string } & Record<string, any>
export type Pred = (e: Ev) => boolean

const registry = new Set<CliProc>()
const TAIL_LINES = 30

export class CliProc {
  readonly child: ChildProcess
  readonly events: Ev[] = []
  readonly exited: Promise<number | null>
  private readonly stderr: string[] = []
  private readonly listeners = new Set<() => void>()
  private done = false

  /** `netns`: run inside that network namespace (`ip netns exec`; tests/helpers/netns.ts). */
  constructor (readonly name: string, args: string[], opts: { netns?: string, env?: NodeJS.ProcessEnv } = {}) {
    const [cmd, ...rest] = opts.netns != null ? ['ip', 'netns', 'exec', opts.netns, process.execPath, BIN, ...args] : [process.execPath, BIN, ...args]
    this.child = spawn(cmd!, rest, {
      cwd: REPO_ROOT,
      // Never the public bootstrap peers from a test (empty = none), whatever the environment says.
      env: { ...process.env, PATH: pathWithFakeUv(), SWARM_NODE_PUBLIC_BOOTSTRAP: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    registry.add(this)
    this.exited = new Promise(resolve => this.child.once('exit', code => {
      this.done = true
      registry.delete(this)
      this.notify()
      resolve(code)
    }))
    // SWARM_TEST_LOGS=dir keeps every process's output there, for debugging.
    const logs = process.env.SWARM_TEST_LOGS
    createInterface({ input: this.child.stdout! }).on('line', line => {
      if (logs != null) appendFileSync(join(logs, `${name}.log`), `${line}\n`)
      try {
        const e = JSON.parse(line)
        if (e != null && typeof e.type === 'string') { this.events.push(e); this.notify(); return }
      } catch {}
      this.keep(`[stdout] ${line}`)
    })
    createInterface({ input: this.child.stderr! }).on('line', line => { this.keep(line) })
  }

  get alive (): boolean { return !this.done }

  /** The first event (from index `from`) matching `pred`, within `timeoutMs`; rejects early if the process exits. */
  async waitFor (pred: Pred, timeoutMs: number, what = pred.toString(), from = 0): Promise<Ev> {
    return await new Promise((resolve, reject) => {
      let i = from
      const check = (): void => {
        for (; i < this.events.length; i++) {
          if (pred(this.events[i]!)) { stop(); resolve(this.events[i]!); return }
        }
        if (this.done) { stop(); reject(new Error(`${this.name} exited before ${what}\n${this.tail()}`)) }
      }
      const timer = setTimeout(() => { stop(); reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`)) }, timeoutMs)
      const stop = (): void => { clearTimeout(timer); this.listeners.delete(check) }
      this.listeners.add(check)
      check()
    })
  }

  filter (pred: Pred): Ev[] { return this.events.filter(pred) }

  /** SIGTERM (a clean stop), SIGKILL after `graceMs`. Resolves to the exit code. */
  async stop (graceMs = 8000): Promise<number | null> {
    if (this.done) return await this.exited
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    const code = await this.exited
    clearTimeout(t)
    return code
  }

  tail (): string {
    const last = this.events.slice(-(Number(process.env.SWARM_TEST_TAIL) || 8)).map(e => JSON.stringify(e).slice(0, 300))
    return `--- ${this.name}: last events ---\n${last.join('\n')}\n--- ${this.name}: stderr ---\n${this.stderr.join('\n')}`
  }

  private keep (line: string): void {
    this.stderr.push(line)
    if (this.stderr.length > TAIL_LINES) this.stderr.shift()
  }

  private notify (): void { for (const l of [...this.listeners]) l() }
}

/** Stops every CLI process and raw peer still running. */
export async function stopAll (): Promise<void> {
  await Promise.all([...[...registry].map(async p => await p.stop()), killAll()])
}

// Last resort when the runner exits with children still up.
process.once('exit', () => { for (const p of registry) p.child.kill('SIGKILL') })

export interface Bootstrap { proc: CliProc, peerId: string, addr: string, home: string }

export async function startBootstrap (opts: { name?: string, swarmKey?: string } = {}): Promise<Bootstrap> {
  const home = await tempDir('boot')
  const proc = new CliProc(opts.name ?? 'bootstrap', ['--home', home, '--json', 'bootstrap', '--listen', LOOPBACK, '--no-mdns',
    ...(opts.swarmKey != null ? ['--swarm-key', opts.swarmKey] : [])])
  const l = await proc.waitFor(e => e.type === 'listening', 30_000, 'listening')
  return { proc, peerId: l.peerId, addr: l.addrs[0], home }
}

export interface TrainerOptions {
  bootstrap?: string[]
  proposer?: 'mutation' | 'none'
  seed?: number
  confirm?: boolean
  maxExperiments?: number
  swarmKey?: string
  bestInterval?: number
  statusInterval?: number
  /** Reuse a project directory and home (a restart); else fresh copies. */
  dir?: string
  home?: string
  offline?: boolean
  /** More `start` flags (--llm-base-url ..., --max-repairs 0). */
  extraArgs?: string[]
  /** More environment for the process (HOME, OPENAI_API_KEY, SWARM_BWRAP). */
  env?: NodeJS.ProcessEnv
}

export interface Trainer { name: string, proc: CliProc, dir: string, home: string, peerId: string, addr: string | null, track: string, project: string }

function trainerArgs (o: TrainerOptions, dir: string, home: string): string[] {
  const args = ['--home', home, '--json', 'start', '--project', dir]
  if (o.offline === true) args.push('--offline')
  else args.push('--listen', LOOPBACK, '--no-mdns', ...(o.bootstrap ?? []).flatMap(b => ['--bootstrap', b]))
  if (o.proposer != null) args.push('--proposer', o.proposer)
  if (o.seed != null) args.push('--seed', String(o.seed))
  if (o.confirm === false) args.push('--no-confirm')
  if (o.maxExperiments != null) args.push('--max-experiments', String(o.maxExperiments))
  if (o.swarmKey != null) args.push('--swarm-key', o.swarmKey)
  if (o.bestInterval != null) args.push('--best-interval', String(o.bestInterval))
  if (o.statusInterval != null) args.push('--status-interval', String(o.statusInterval))
  args.push(...(o.extraArgs ?? []))
  return args
}

/** A `swarm-node start` process on (a fresh copy of) the autoresearch fixture; resolves once it listens (or, offline, has its session). */
export async function startTrainer (name: string, o: TrainerOptions = {}): Promise<Trainer> {
  const dir = o.dir ?? await fixtureCopy('autoresearch')
  const home = o.home ?? await tempDir(`home-${name}`)
  const proc = new CliProc(name, trainerArgs(o, dir, home), { env: o.env })
  const session = await proc.waitFor(e => e.type === 'session', 60_000, 'session')
  const listening = o.offline === true ? null : await proc.waitFor(e => e.type === 'listening', 30_000, 'listening')
  return { name, proc, dir, home, peerId: session.peerId, addr: listening?.addrs[0] ?? null, track: session.track, project: session.project }
}

/** `swarm-node keygen FILE`: a fresh pnet key; resolves to the file. */
export async function keygen (name: string): Promise<string> {
  const file = join(await tempDir('key'), `${name}.key`)
  const proc = new CliProc(`keygen ${name}`, ['--json', 'keygen', file])
  if (await proc.exited !== 0) throw new Error(`keygen failed\n${proc.tail()}`)
  return file
}

// --- predicates and figures ---------------------------------------------------

export const ms = (e: Ev): number => Date.parse(e.time)

/** `experiment-end` of a reproduction of a result by `author` (any status unless given). */
export const adopted = (author: string, status?: string): Pred =>
  e => e.type === 'experiment-end' && e.record.origin?.author === author && (status == null || e.record.status === status)

export const baselineDone: Pred = e => e.type === 'experiment-end' && e.record.status === 'baseline'

// --- git -------------------------------------------------------------------------

export async function gitShow (dir: string, rev: string, file = 'train.py'): Promise<string> {
  return await simpleGit(dir).show([`${rev}:${file}`])
}

export async function headMessage (dir: string): Promise<string> {
  return await simpleGit(dir).raw(['log', '-1', '--format=%B'])
}

export const sleep = async (msec: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, msec))

// --- raw peers (tests/helpers/raw-peer.ts) ---------------------------------------

/** `keys`: the peer ids it signs as; keys[0] is its node's own. */
export interface RawPeer { proc: TestProcess, peerId: string, addr: string, keys: string[] }

export async function startRawPeer (name: string, o: { project: string, bootstrap: string[], extraKeys?: number, swarmKey?: string }): Promise<RawPeer> {
  const storeDir = await tempDir(`raw-${name}`)
  const proc = spawnTs(name, 'tests/helpers/raw-peer.ts', [JSON.stringify({ ...o, storeDir })])
  const ready = await proc.waitFor(l => l.type === 'ready', 30_000, { what: 'ready' })
  return { proc, peerId: ready.peerId, addr: ready.addrs[0], keys: ready.keys }
}

async function ask (p: RawPeer, cmd: Record<string, unknown>, timeoutMs = 25_000): Promise<Record<string, any>> {
  const res = await p.proc.ask(cmd, timeoutMs)
  if (res.type === 'error') throw new Error(`${p.proc.name}: ${String(cmd.cmd)} failed: ${res.error}`)
  return res
}

/** `body` signed with the raw peer's own key, or with its extra key `key` (1..extraKeys). */
export async function rawSign<T extends Signed> (p: RawPeer, body: Unsigned<T>, key = 0): Promise<T> {
  return (await ask(p, { cmd: 'sign', body, key })).message
}

/** Puts a signed message (any author) into the raw peer's store, for `sync` to serve. */
export async function rawStore (p: RawPeer, message: Message): Promise<void> {
  await ask(p, { cmd: 'store', message })
}

export async function rawDial (p: RawPeer, addr: string): Promise<void> {
  await ask(p, { cmd: 'dial', addr })
}

/** From now on the raw peer answers every leaderboard request with exactly these frames. */
export async function rawBoardAnswer (p: RawPeer, frames: Uint8Array[]): Promise<void> {
  await ask(p, { cmd: 'board-answer', frames: frames.map(f => Buffer.from(f).toString('base64')) })
}

/** From now on the raw peer accepts fetch streams and never answers them. */
export async function rawHangFetch (p: RawPeer): Promise<void> {
  await ask(p, { cmd: 'hang-fetch' })
}

/** Publishes bytes as they are on the project topic; resolves to the number of peers they were sent to. */
export async function rawPublish (p: RawPeer, bytes: Uint8Array): Promise<number> {
  return (await ask(p, { cmd: 'publish', data: Buffer.from(bytes).toString('base64') })).recipients
}

export async function rawPublishMessage (p: RawPeer, m: Message): Promise<number> {
  return await rawPublish(p, encodeMessage(m))
}

export async function rawServe (p: RawPeer, files: Record<string, string>): Promise<string> {
  return (await ask(p, { cmd: 'serve', files })).hash
}

export async function rawPutBest (p: RawPeer, record: unknown): Promise<void> {
  await ask(p, { cmd: 'put-best', record })
}

/** Waits until the raw peer sees every one of `peers` subscribed to the project topic (so a publish reaches them directly). */
export async function untilSubscribed (p: RawPeer, peers: string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { subscribers } = await ask(p, { cmd: 'status' })
    if (peers.every(x => subscribers.includes(x))) return
    if (Date.now() > deadline) throw new Error(`${p.proc.name}: ${peers.filter(x => !subscribers.includes(x)).join(', ')} never subscribed (sees ${subscribers.join(', ')})`)
    await sleep(100)
  }
}

// --- wire bodies ----------------------------------------------------------------

/** The fixture's editable file as shipped, and a variant that differs only in a comment (it scores the same). */
export async function fixtureTrain (comment?: string): Promise<string> {
  const text = await readFile(join(FIXTURES, 'autoresearch', 'train.py'), 'utf8')
  return comment == null ? text : `${text}# ${comment}\n`
}

export const HARDWARE = { cpu: 'raw peer cpu', cores: 2, ram_gb: 4, gpu: null, gpu_mem_gb: null }

/** An unsigned Result body with plausible defaults. */
export function resultFor (o: { project: string, track: string, parent: string, child: string, val_bpb: number | null, status?: ResultMsg['status'], description?: string }): Unsigned<ResultMsg> {
  return {
    v: 1,
    kind: 'result',
    project: o.project,
    track: o.track,
    parent: o.parent,
    child: o.child,
    diff: '',
    val_bpb: o.val_bpb,
    verified_bpb: null,
    status: o.status ?? 'keep',
    reason: '',
    metrics: {},
    hardware: HARDWARE,
    agent: 'raw-peer',
    description: o.description ?? 'a raw peer\'s result',
    time: Date.now()
  }
}

/** An unsigned Attestation body of `r`: `ok` and what the attester says it measured. */
export function attestationFor (r: ResultMsg, ok: boolean, valBpb: number | null): Unsigned<AttestationMsg> {
  return { v: 1, kind: 'attestation', project: r.project, track: r.track, result: messageId(r), child: r.child, ok, val_bpb: valBpb, verified_bpb: null, hardware: HARDWARE, time: Date.now() }
}
