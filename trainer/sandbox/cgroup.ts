/**
 * Limits through cgroups the node may write itself (root, or a delegated
 * cgroup v2 subtree): one child cgroup per run, below the node's own, with a
 * cap on processes (pids) and memory. This is what stops a fork bomb where
 * RLIMIT_NPROC cannot: the kernel never applies that limit to root.
 *
 * Where systemd runs a user manager, `systemd-run --user --scope` does the same
 * without any of this (see limits.ts); this is the path for everywhere else.
 */
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface CgroupParents {
  version: 1 | 2
  /** Folder (per controller) under which run cgroups are made. v2 has one folder for both. */
  pids: string
  memory: string
}

export const RUN_CGROUP_PREFIX = 'swarm-node-run-'

interface Mount { root: string, point: string, type: string, options: string[] }

/** Cgroup mounts from /proc/self/mountinfo. */
export function parseMountinfo (text: string): Mount[] {
  const out: Mount[] = []
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ')
    if (left == null || right == null) continue
    const f = left.split(' ')
    const [type, , superOpts] = right.split(' ')
    if (type !== 'cgroup' && type !== 'cgroup2') continue
    out.push({ root: unescape(f[3] ?? '/'), point: unescape(f[4] ?? ''), type, options: (superOpts ?? '').split(',') })
  }
  return out
}

const unescape = (s: string): string => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** controller ('' for v2) -> path, from /proc/self/cgroup. */
export function parseProcCgroup (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.trim().split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line)
    if (m == null) continue
    for (const c of m[1]!.split(',')) out.set(c, m[2]!)
  }
  return out
}

function below (mount: Mount, path: string): string {
  const rel = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path
  return join(mount.point, rel)
}

/** The folders where this process could make run cgroups, if it may write there; null otherwise. */
export async function findCgroupParents (): Promise<CgroupParents | null> {
  let mounts: Mount[]
  let own: Map<string, string>
  try {
    mounts = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'))
    own = parseProcCgroup(await readFile('/proc/self/cgroup', 'utf8'))
  } catch {
    return null
  }
  const v1 = (c: string): string | null => {
    const m = mounts.find(x => x.type === 'cgroup' && x.options.includes(c))
    const path = own.get(c)
    return m != null && path != null ? below(m, path) : null
  }
  const pids = v1('pids')
  const memory = v1('memory')
  if (pids != null && memory != null && await usable({ version: 1, pids, memory })) return { version: 1, pids, memory }
  const unified = mounts.find(x => x.type === 'cgroup2')
  const path = own.get('')
  if (unified != null && path != null) {
    const dir = below(unified, path)
    if (await usable({ version: 2, pids: dir, memory: dir })) return { version: 2, pids: dir, memory: dir }
  }
  return null
}

/** Tries to make, limit and remove a test cgroup. */
async function usable (parents: CgroupParents): Promise<boolean> {
  const probe = await RunCgroup.create(parents, `probe-${process.pid}`, { processes: 64, memoryBytes: 64 * 1024 * 1024 }).catch(() => null)
  if (probe == null) return false
  await probe.remove().catch(() => {})
  return true
}

export interface CgroupLimits { processes: number, memoryBytes: number }

/** One run's cgroup(s). */
export class RunCgroup {
  private constructor (readonly dirs: string[]) {}

  /** The run cgroup(s) at these folders, made earlier (a record of a killed node's run). */
  static at (dirs: string[]): RunCgroup {
    return new RunCgroup(dirs.filter(d => d.includes(`/${RUN_CGROUP_PREFIX}`)))
  }

  static async create (parents: CgroupParents, name: string, limits: CgroupLimits): Promise<RunCgroup> {
    const dirs = [...new Set([parents.pids, parents.memory])].map(p => join(p, `${RUN_CGROUP_PREFIX}${name}`))
    const made: string[] = []
    try {
      for (const d of dirs) {
        await mkdir(d)
        made.push(d)
      }
      if (parents.version === 1) {
        await writeFile(join(parents.pids, `${RUN_CGROUP_PREFIX}${name}`, 'pids.max'), String(limits.processes))
        await writeFile(join(parents.memory, `${RUN_CGROUP_PREFIX}${name}`, 'memory.limit_in_bytes'), String(limits.memoryBytes))
        // Without this the kernel may swap a run out instead of stopping it at its limit.
        await writeFile(join(parents.memory, `${RUN_CGROUP_PREFIX}${name}`, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => {})
      } else {
        const d = dirs[0]!
        await writeFile(join(d, 'pids.max'), String(limits.processes))
        await writeFile(join(d, 'memory.max'), String(limits.memoryBytes))
        await writeFile(join(d, 'memory.swap.max'), '0').catch(() => {})
      }
    } catch (err) {
      for (const d of made) await rmdir(d).catch(() => {})
      throw err
    }
    return new RunCgroup(dirs)
  }

  /** Files a process writes its pid to, to enter the run's cgroups. */
  get procsFiles (): string[] {
    return this.dirs.map(d => join(d, 'cgroup.procs'))
  }

  async pids (): Promise<number[]> {
    const all = new Set<number>()
    for (const f of this.procsFiles) {
      const text = await readFile(f, 'utf8').catch(() => '')
      for (const l of text.split('\n')) if (/^\d+$/.test(l)) all.add(Number(l))
    }
    return [...all]
  }

  /** SIGKILLs whatever is still inside, waits (bounded) until empty, and removes the cgroups; returns how many it killed. */
  async remove (waitMs = 2000): Promise<number> {
    const deadline = Date.now() + waitMs
    const killed = new Set<number>()
    for (;;) {
      const left = await this.pids()
      if (left.length === 0 || Date.now() > deadline) break
      for (const pid of left) {
        try { process.kill(pid, 'SIGKILL'); killed.add(pid) } catch {}
      }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    for (const d of this.dirs) await rmdir(d).catch(() => {})
    return killed.size
  }

  /**
   * Run cgroups a killed node left behind: empties and removes them; says how
   * many it removed and how many processes it killed in them (a node killed
   * before it wrote down its run leaves nothing else to find them by).
   */
  static async reapStale (parents: CgroupParents, alive: (name: string) => boolean): Promise<{ cgroups: number, killed: number }> {
    const out = { cgroups: 0, killed: 0 }
    for (const parent of new Set([parents.pids, parents.memory])) {
      const names = (await readdir(parent).catch(() => [] as string[])).filter(n => n.startsWith(RUN_CGROUP_PREFIX))
      for (const n of names) {
        if (alive(n.slice(RUN_CGROUP_PREFIX.length))) continue
        out.killed += await new RunCgroup([join(parent, n)]).remove()
        out.cgroups++
      }
    }
    return out
  }
}
