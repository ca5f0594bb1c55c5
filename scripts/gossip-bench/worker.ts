/**
 * Where a share of the bench's nodes live: in this process, or in a worker
 * process the bench starts (`--processes K`), optionally inside a network
 * namespace standing for a host of its own (`--netns H`). Either way the
 * bench calls the same `BenchNodes` methods by name; to a worker the call
 * travels over Node's IPC channel (`child_process` with an `ipc` stdio), which
 * survives `ip netns exec` since that execs node with the channel's fd intact.
 *
 *   const nodes = await startWorker('worker 0', 'snpb-h0')
 *   await nodes.call('init', project, '11.0.0.10')
 *   const made = await nodes.call('create', [1, 2, 3], bootstrapAddr)
 */
import '../../node/polyfills.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { BenchNodes } from './nodes.ts'

type Methods = Pick<BenchNodes, 'init' | 'baseline' | 'create' | 'status' | 'publish' | 'rescue' | 'counts' | 'arrivalList' | 'stop'>
export type Method = keyof Methods

export interface NodesHandle {
  readonly name: string
  readonly pid: number
  call<M extends Method>(method: M, ...args: Parameters<Methods[M]>): Promise<Awaited<ReturnType<Methods[M]>>>
  close (): Promise<void>
}

const CALL_TIMEOUT_MS = 120_000
const START_TIMEOUT_MS = 30_000

/** The nodes live in this very process. */
export function inProcess (): NodesHandle {
  const nodes = new BenchNodes()
  return {
    name: 'in-process',
    pid: process.pid,
    call: async (method, ...args) => await (nodes[method] as (...a: unknown[]) => unknown).apply(nodes, args) as any,
    close: async () => {}
  }
}

/** A worker process (inside network namespace `netns` when given) holding nodes. */
export async function startWorker (name: string, netns?: string): Promise<NodesHandle> {
  const node = [process.execPath, '--import', 'tsx', import.meta.filename, '--worker']
  const [cmd, ...args] = netns != null ? ['ip', 'netns', 'exec', netns, ...node] : node
  const child = spawn(cmd!, args, { cwd: process.cwd(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  let nextId = 0
  let exited = false
  child.on('message', (m: { id: number, ok: boolean, result?: unknown, error?: string }) => {
    const p = pending.get(m.id)
    pending.delete(m.id)
    if (m.ok) p?.resolve(m.result)
    else p?.reject(new Error(`${name}: ${m.error}`))
  })
  child.on('exit', code => {
    exited = true
    for (const p of pending.values()) p.reject(new Error(`${name} exited (code ${code})`))
    pending.clear()
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS)
    child.once('message', () => { clearTimeout(timer); resolve() }) // its hello
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${name} exited at start (code ${code})`)) })
  })
  return {
    name,
    get pid () { return child.pid ?? -1 },
    call: async (method, ...args) => {
      if (exited) throw new Error(`${name} has exited`)
      const id = nextId++
      return await new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => { pending.delete(id); reject(new Error(`${name}: ${method} timed out`)) }, CALL_TIMEOUT_MS)
        pending.set(id, { resolve: v => { clearTimeout(timer); resolve(v) }, reject: e => { clearTimeout(timer); reject(e) } })
        child.send({ id, method, args })
      })
    },
    close: async () => { await closeWorker(child, () => exited) }
  }
}

/** Ask the worker to go (it stops its nodes when the channel closes); kill it, by its pid, if it does not. */
async function closeWorker (child: ChildProcess, exited: () => boolean): Promise<void> {
  if (exited()) return
  const gone = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.disconnect()
  let timer: ReturnType<typeof setTimeout> | undefined
  const ok = await Promise.race([gone.then(() => true), new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), 15_000) })])
  clearTimeout(timer)
  if (!ok) {
    child.kill('SIGKILL')
    await gone
  }
}

/** The worker's side: call what the parent asks of our nodes; leave when the parent goes. */
function serve (): void {
  const nodes = new BenchNodes()
  process.on('message', (m: { id: number, method: Method, args: unknown[] }) => {
    Promise.resolve()
      .then(async () => await (nodes[m.method] as (...a: unknown[]) => unknown).apply(nodes, m.args))
      .then(
        result => process.send?.({ id: m.id, ok: true, result }),
        (err: unknown) => process.send?.({ id: m.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) })
      )
  })
  process.on('disconnect', () => { void nodes.stop().finally(() => process.exit(0)) })
  process.send?.({ hello: true })
}

if (process.argv.includes('--worker')) serve()
