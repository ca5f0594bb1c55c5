/**
 * Child processes for integration tests: start a TypeScript entry with
 * `node --import tsx`, read its stdout as JSON lines, talk to it over stdin,
 * and make sure it dies. Every process lands in a registry; call `killAll()`
 * from `afterAll`/`afterEach`. A process still alive when the test runner
 * exits gets SIGKILL, and the entries themselves should exit when stdin closes.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export type Line = Record<string, any>

/** The repository root: children run there so `tsx` and node_modules resolve. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

const STDERR_TAIL_LINES = 40
const DEFAULT_KILL_GRACE_MS = 2000

const registry = new Set<TestProcess>()

export class TestProcess {
  readonly child: ChildProcess
  /** Every JSON line printed so far, in order. */
  readonly lines: Line[] = []
  /** The last lines of stderr (and non-JSON stdout), for failure messages. */
  readonly stderrTail: string[] = []
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly startedAt = Date.now()
  private readonly listeners = new Set<() => void>()
  private nextId = 1
  private exitInfo?: { code: number | null, signal: NodeJS.Signals | null }

  /** `netns`: run inside that network namespace (`ip netns exec`; tests/helpers/netns.ts). */
  constructor (readonly name: string, file: string, args: string[], env: NodeJS.ProcessEnv = {}, netns?: string) {
    const argv = [process.execPath, '--import', 'tsx', file, ...args]
    const [cmd, ...rest] = netns != null ? ['ip', 'netns', 'exec', netns, ...argv] : argv
    this.child = spawn(cmd!, rest, {
      cwd: REPO_ROOT,
      // Never the public bootstrap peers from a test (empty = none), whatever the environment says.
      env: { ...process.env, SWARM_NODE_PUBLIC_BOOTSTRAP: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    this.exited = new Promise(resolve => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        registry.delete(this)
        this.notify()
        resolve(this.exitInfo)
      })
    })
    // Writing to a child that died must not crash the test runner.
    this.child.stdin?.on('error', () => {})
    createInterface({ input: this.child.stdout! }).on('line', line => {
      let parsed: unknown
      try { parsed = JSON.parse(line) } catch {}
      if (parsed != null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        this.lines.push(parsed as Line)
        this.notify()
      } else {
        this.keepStderr(`[stdout] ${line}`)
      }
    })
    createInterface({ input: this.child.stderr! }).on('line', line => { this.keepStderr(line) })
    registry.add(this)
  }

  get alive (): boolean { return this.exitInfo == null }

  /**
   * The first line (at index >= `from`) matching `predicate`, waiting up to
   * `timeoutMs`. Rejects early when the process exits.
   */
  async waitFor (predicate: (line: Line) => boolean, timeoutMs: number, opts: { from?: number, what?: string } = {}): Promise<Line> {
    const what = opts.what ?? predicate.toString()
    return new Promise((resolve, reject) => {
      let checked = opts.from ?? 0
      const check = (): void => {
        for (; checked < this.lines.length; checked++) {
          const line = this.lines[checked]!
          if (predicate(line)) { done(); resolve(line); return }
        }
        if (this.exitInfo != null) {
          done()
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before ${what}\n${this.tail()}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`))
      }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.listeners.delete(check) }
      this.listeners.add(check)
      check()
    })
  }

  /** Send one JSON line on stdin. */
  send (command: Line): void {
    this.child.stdin?.write(`${JSON.stringify(command)}\n`)
  }

  /** Send a command with a fresh `id` and wait for the line answering it (same `id`). */
  async ask (command: Line, timeoutMs = 5000): Promise<Line> {
    const id = this.nextId++
    const from = this.lines.length
    this.send({ ...command, id })
    return this.waitFor(l => l.id === id, timeoutMs, { from, what: `answer to ${JSON.stringify(command)}` })
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async kill (graceMs = DEFAULT_KILL_GRACE_MS): Promise<void> {
    if (this.exitInfo != null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(timer)
  }

  tail (): string {
    return this.stderrTail.length === 0 ? '(no stderr)' : `--- ${this.name} stderr (tail) ---\n${this.stderrTail.join('\n')}`
  }

  private keepStderr (line: string): void {
    this.stderrTail.push(line)
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift()
  }

  private notify (): void {
    for (const l of [...this.listeners]) l()
  }
}

/** Start `file` (path from the repo root or absolute) as `node --import tsx file ...args`. */
export function spawnTs (name: string, file: string, args: string[] = [], env?: NodeJS.ProcessEnv, netns?: string): TestProcess {
  return new TestProcess(name, file, args, env, netns)
}

/** Kill every process still running, in parallel. */
export async function killAll (graceMs = DEFAULT_KILL_GRACE_MS): Promise<void> {
  await Promise.all([...registry].map(async p => p.kill(graceMs)))
}

// Last resort when the runner exits with children still up (a crashed test).
process.once('exit', () => {
  for (const p of registry) p.child.kill('SIGKILL')
})
