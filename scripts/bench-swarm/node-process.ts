/**
 * One `swarm-node start --json` process of the benchmark: its own project copy
 * and home, every JSON event line kept (and written to a log file), stopped
 * with SIGTERM like an operator's Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../bin/swarm-node.js', import.meta.url))
const STOP_GRACE_MS = 15_000

const running = new Set<ChildProcess>()
// A benchmark stopped half-way (Ctrl-C, a timeout) leaves no node behind.
process.once('exit', () => { for (const c of running) c.kill('SIGKILL') })
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130))

/** A `--json` line: a type, an ISO time, the event's fields. */
export type Ev = { type: string, time: string } & Record<string, any>

export class NodeProcess {
  readonly events: Ev[] = []
  readonly spawnedAt = Date.now()
  readonly exited: Promise<number | null>
  private readonly child: ChildProcess
  private readonly log: WriteStream
  private readonly stderr: string[] = []

  constructor (readonly name: string, args: string[], logFile: string, onEvent: (e: Ev) => void) {
    this.log = createWriteStream(logFile)
    // No public bootstrap list, ever: the nodes must find only each other.
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, SWARM_NODE_PUBLIC_BOOTSTRAP: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(this.child)
    this.exited = new Promise(resolve => this.child.once('exit', code => { running.delete(this.child); this.log.end(); resolve(code) }))
    createInterface({ input: this.child.stdout! }).on('line', line => {
      this.log.write(line + '\n')
      let e: Ev | null = null
      try { e = JSON.parse(line) } catch {}
      if (e == null || typeof e.type !== 'string') return
      this.events.push(e)
      onEvent(e)
    })
    createInterface({ input: this.child.stderr! }).on('line', line => {
      this.stderr.push(line)
      if (this.stderr.length > 20) this.stderr.shift()
    })
  }

  get alive (): boolean { return this.child.exitCode == null && this.child.signalCode == null }

  /**
   * CPU seconds so far (Linux /proc): the node process itself, and the children it
   * has waited for (training runs, git). Null where /proc is not there.
   */
  cpu (): { self: number, children: number } | null {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8')
      // Fields after the command name (which may hold spaces) start at field 3.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
      const tick = 100
      return { self: (f[11]! + f[12]!) / tick, children: (f[13]! + f[14]!) / tick }
    } catch {
      return null
    }
  }

  /** What it said last on stderr, for a failure message. */
  tail (): string { return this.stderr.join('\n') }

  async stop (): Promise<number | null> {
    if (this.alive) this.child.kill('SIGTERM')
    const t = setTimeout(() => { if (this.alive) this.child.kill('SIGKILL') }, STOP_GRACE_MS)
    const code = await this.exited
    clearTimeout(t)
    return code
  }
}
