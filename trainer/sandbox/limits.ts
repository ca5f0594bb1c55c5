/**
 * Memory, process and file-size limits of a run, and the command prefixes
 * that apply them. Three ways, best first:
 * - `systemd`: `systemd-run --user --scope` puts the run in its own cgroup
 *   (MemoryMax, TasksMax), where a user systemd manager runs;
 * - `cgroup`: the node makes the run's cgroup itself where it may (root, or a
 *   delegated cgroup v2 subtree; cgroup.ts);
 * - `prlimit`: resource limits (RLIMIT_DATA, RLIMIT_NPROC) on the run's
 *   processes. The kernel never applies RLIMIT_NPROC to root, so as root this
 *   path cannot stop a fork bomb; `status` says so.
 * File size (RLIMIT_FSIZE) always goes through prlimit: cgroups have no such
 * limit. Pure, apart from the constants.
 */
import type { SandboxSpec } from '../manifest.ts'

export type LimitsKind = 'systemd' | 'cgroup' | 'prlimit' | 'none'

export interface Limits {
  memoryBytes: number
  processes: number
  fileSizeBytes: number
}

const MIB = 1024 * 1024
/** A run may use this share of the machine's memory unless the project says otherwise. */
export const DEFAULT_MEMORY_SHARE = 0.75

export function resolveLimits (spec: Pick<SandboxSpec, 'memory_mb' | 'processes' | 'file_size_mb'>, totalMemBytes: number): Limits {
  return {
    memoryBytes: spec.memory_mb != null ? spec.memory_mb * MIB : Math.floor(totalMemBytes * DEFAULT_MEMORY_SHARE),
    processes: spec.processes,
    fileSizeBytes: spec.file_size_mb * MIB
  }
}

/**
 * `prlimit --data --fsize [--nproc] --core=0 --`. `nproc` only where the run
 * has its own user namespace: elsewhere RLIMIT_NPROC counts every process of
 * the user, and a busy desktop would already be over it. `memory` false where
 * a cgroup holds memory and a GPU driver maps large private regions.
 */
export function prlimitArgs (prlimit: string, l: Limits, o: { nproc: boolean, memory: boolean }): string[] {
  const pair = (n: number): string => `${n}:${n}`
  return [
    prlimit,
    ...(o.memory ? [`--data=${pair(l.memoryBytes)}`] : []),
    `--fsize=${pair(l.fileSizeBytes)}`,
    ...(o.nproc ? [`--nproc=${pair(l.processes)}`] : []),
    '--core=0',
    '--'
  ]
}

export function systemdRunArgs (systemdRun: string, l: Limits): string[] {
  return [systemdRun, '--user', '--scope', '--quiet', '--collect', '-p', `MemoryMax=${l.memoryBytes}`, '-p', 'MemorySwapMax=0', '-p', `TasksMax=${l.processes}`, '--']
}

const gib = (b: number): string => b >= 1024 ** 3 ? `${+(b / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(b / MIB)} MiB`

export function describeLimits (kind: LimitsKind, l: Limits, o: { root: boolean, userns: boolean }): string {
  const what = `memory ${gib(l.memoryBytes)}, ${l.processes} processes, files up to ${gib(l.fileSizeBytes)}`
  switch (kind) {
    case 'systemd': return `cgroup via systemd-run --user --scope (${what})`
    case 'cgroup': return `cgroup, made by the node (${what})`
    case 'prlimit': return `prlimit (${what}${o.root || !o.userns ? '; the process limit does not hold here: ' + (o.root ? 'the kernel exempts root' : 'no user namespace') : ''})`
    case 'none': return 'none (no prlimit on this system)'
  }
}
