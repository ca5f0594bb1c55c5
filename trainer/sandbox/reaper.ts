/**
 * No run outlives the node that started it. Inside bubblewrap the kernel sees
 * to it (--die-with-parent, a PID namespace); without it a parent-death signal
 * takes the run's process group down. Both fail only where the node itself
 * cannot act, so every run is also written down here (pid, process group,
 * sandbox pid, each with its start time so a recycled pid is never mistaken
 * for ours) and whatever a killed node left is killed at the next start.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface ProcessRef { pid: number, start: number }

export interface RunEntry {
  node: ProcessRef
  /** The process the node spawned; it leads the run's process group. */
  leader: ProcessRef
  /** PID 1 of the sandbox's PID namespace; killing it ends everything inside. */
  sandbox: ProcessRef | null
  /** The run's own cgroup folders, removed once empty. */
  cgroups: string[]
}

/** Start time of a process (clock ticks since boot), or null when it is gone or a zombie. */
export async function startTime (pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z' || fields[0] === 'X') return null
    return Number(fields[19])
  } catch {
    return null
  }
}

export async function isRunning (ref: ProcessRef): Promise<boolean> {
  return (await startTime(ref.pid)) === ref.start
}

export async function refOf (pid: number): Promise<ProcessRef | null> {
  const start = await startTime(pid)
  return start == null ? null : { pid, start }
}

/** Live processes in process group `pgid` that started no earlier than `since`. */
async function groupMembers (pgid: number, since: number): Promise<number[]> {
  const out: number[] = []
  for (const e of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (f[0] !== 'Z' && f[0] !== 'X' && Number(f[2]) === pgid && Number(f[19]) >= since) out.push(Number(e))
    } catch {}
  }
  return out
}

const kill = (pid: number, sig: NodeJS.Signals): void => { try { process.kill(pid, sig) } catch {} }

export class RunRegistry {
  private seq = 0
  constructor (readonly dir: string) {}

  async add (entry: RunEntry): Promise<string> {
    await mkdir(this.dir, { recursive: true })
    const file = join(this.dir, `${entry.node.pid}-${entry.node.start}-${++this.seq}.json`)
    await writeFile(file, JSON.stringify(entry) + '\n', { mode: 0o600 })
    return file
  }

  async remove (file: string): Promise<void> {
    await rm(file, { force: true })
  }

  /** Kills what runs of dead nodes left and forgets them; returns what it did, in words. */
  async reapStale (removeCgroups: (dirs: string[]) => Promise<number>): Promise<string[]> {
    const done: string[] = []
    const names = await readdir(this.dir).catch(() => [] as string[])
    for (const name of names.filter(n => n.endsWith('.json'))) {
      const file = join(this.dir, name)
      let e: RunEntry
      try {
        e = JSON.parse(await readFile(file, 'utf8')) as RunEntry
      } catch {
        await rm(file, { force: true })
        continue
      }
      if (await isRunning(e.node)) continue
      const killed: number[] = []
      if (e.sandbox != null && await isRunning(e.sandbox)) {
        kill(e.sandbox.pid, 'SIGKILL')
        killed.push(e.sandbox.pid)
      }
      const members = await groupMembers(e.leader.pid, e.leader.start)
      if (members.length > 0) {
        kill(-e.leader.pid, 'SIGKILL')
        killed.push(...members)
      }
      const inCgroup = e.cgroups.length > 0 ? await removeCgroups(e.cgroups) : 0
      const n = killed.length + inCgroup
      if (n > 0) done.push(`killed ${n} process${n === 1 ? '' : 'es'} left by a run of node ${e.node.pid}${killed.length > 0 ? ` (${killed.join(', ')})` : ''}`)
      await rm(file, { force: true })
    }
    return done
  }
}
