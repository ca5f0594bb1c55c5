/**
 * Turns "run this command for this project" into the command line that runs
 * it caged: looks at the disk (workspace entries, the interpreter's folders,
 * the GPU), asks mounts.ts for the view and limits.ts for the limits, makes the
 * run's cgroup, and after the run undoes what it set up. The runner spawns
 * what `launch()` returns and calls back when the process is up and gone.
 */
import { mkdir, open, lstat, readdir, realpath, rm, stat } from 'node:fs/promises'
import { homedir, totalmem } from 'node:os'
import { delimiter, dirname, isAbsolute, join } from 'node:path'
import { DEFAULT_FILE_SIZE_MB, DEFAULT_PROCESSES, type Manifest, type SandboxSpec } from '../manifest.ts'
import type { PythonRoots } from '../python.ts'
import { RunCgroup } from './cgroup.ts'
import { sandboxEnv } from './env.ts'
import { describeLimits, prlimitArgs, resolveLimits, systemdRunArgs, type Limits } from './limits.ts'
import { bwrapArgs, contains, workspaceView, type Kind, type Profile } from './mounts.ts'
import { capabilities, type Capabilities } from './probe.ts'
import { RunRegistry, refOf } from './reaper.ts'

export interface SandboxOptions {
  /** The node's home: never visible to a run; its `sandbox/runs` records every run for reaping. */
  home: string
  /** --unsafe-no-sandbox: where no sandbox works, run foreign code anyway. */
  unsafe?: boolean
  /** Where PATH, HOME, SWARM_BWRAP and the allow-listed variables come from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Use these instead of probing (tests). */
  capabilities?: Capabilities
  /** What the user lets an external agent have beyond a run's cage (--agent-network, --agent-env, --agent-bind). */
  agent?: Partial<AgentCage>
}

/** An external coding agent usually talks to a hosted model: the user may give it the network, its key and its config folder. */
export interface AgentCage {
  network: boolean
  env: string[]
  binds: string[]
}

export interface SandboxStatus {
  /** bubblewrap cages every run. */
  confined: boolean
  unsafe: boolean
  /** Why there is no cage, when there is none. */
  reason: string | null
  limits: Capabilities['limits']
  /** The limits in force, in words (mechanism and figures). */
  limitsLine: string
  gpu: boolean
  userns: boolean
}

/** What the project gives every launch: where it lives and what its manifest allows. */
export interface ProjectInfo {
  dir: string
  manifest: Pick<Manifest, 'editable' | 'outputs' | 'sandbox'>
  /** The interpreter the project's commands use, as found by trainer/python.ts. */
  python: PythonRoots | null
}

export interface LaunchSpec {
  profile: Profile
  /** A /bin/sh command line, or (argv) the program and its arguments. */
  command: string | string[]
  cwd: string
  /** What the node sets for this run (SWARM_TIME_BUDGET, SWARM_BRIEF, ...). */
  env?: Record<string, string>
  /** More environment names to pass through; `vouched` ones even if they look secret (the user's own --agent-env). */
  envNames?: string[]
  vouched?: string[]
  readOnly?: string[]
  readWrite?: string[]
  /** Single files shown read-only at another path (verify). */
  files?: Array<{ src: string, dest: string }>
  network?: boolean
}

export interface Launch {
  file: string
  args: string[]
  env: Record<string, string>
  /** bubblewrap reports its sandbox's pid on this extra descriptor (stdio index), or null. */
  infoFd: number | null
  /** The spawned process is up (and, in a sandbox, its PID 1 is known). */
  started: (pid: number, sandboxPid: number | null) => Promise<void>
  /** Everything the run started is gone: remove its cgroup, its record, the output files it never wrote. */
  finished: () => Promise<void>
}

const INFO_FD = 3
/** Limits of a launch without a project (none today), and of the node-wide status line. */
const DEFAULT_LIMITS: Pick<SandboxSpec, 'memory_mb' | 'processes' | 'file_size_mb'> = { memory_mb: null, processes: DEFAULT_PROCESSES, file_size_mb: DEFAULT_FILE_SIZE_MB }

export class SandboxError extends Error {
  override name = 'SandboxError'
}

/** `~/x` against the user's home; absolute paths as they are. */
export function expandHome (p: string, home: string): string {
  return p.startsWith('~/') ? join(home, p.slice(2)) : p
}

async function kindOf (path: string): Promise<Kind | undefined> {
  const info = await lstat(path).catch(() => null)
  if (info == null) return undefined
  return info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other'
}

const realOrNull = async (p: string): Promise<string | null> => await realpath(p).catch(() => null)

const PYCACHE_WALK_LIMIT = 5000

/** `__pycache__` folders in the workspace (bounded walk; git, data and other outputs skipped). */
async function findPycaches (dir: string, outputs: readonly string[]): Promise<string[]> {
  const skip = new Set(outputs.filter(o => o.endsWith('/') && !o.includes('__pycache__')).map(o => o.slice(0, -1)))
  const found: string[] = []
  let seen = 0
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 8 || seen > PYCACHE_WALK_LIMIT) return
    const entries = await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      seen++
      if (!e.isDirectory()) continue
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.name === '__pycache__') found.push(path)
      else if (e.name !== '.git' && !e.name.startsWith('.') && !skip.has(path) && e.name !== 'node_modules') await walk(path, depth + 1)
    }
  }
  await walk('', 0)
  return found
}

export class Sandbox {
  readonly home: string
  readonly unsafe: boolean
  readonly agent: AgentCage
  private readonly env: NodeJS.ProcessEnv
  private readonly userHome: string
  private readonly registry: RunRegistry
  private runs = 0

  private constructor (readonly caps: Capabilities, o: SandboxOptions, home: string) {
    this.home = home
    this.unsafe = o.unsafe === true
    this.agent = { network: o.agent?.network === true, env: [...(o.agent?.env ?? [])], binds: [...(o.agent?.binds ?? [])] }
    this.env = o.env ?? process.env
    this.userHome = this.env.HOME ?? homedir()
    this.registry = new RunRegistry(join(home, 'sandbox', 'runs'))
  }

  /** Probes the machine (once per process); `reapStale()` then ends what a killed node left behind. */
  static async open (o: SandboxOptions): Promise<Sandbox> {
    const caps = o.capabilities ?? await capabilities(o.env)
    await mkdir(o.home, { recursive: true })
    const home = await realpath(o.home)
    return new Sandbox(caps, o, home)
  }

  get confined (): boolean {
    return this.caps.bwrap != null
  }

  /** Whether code this node did not write may run here at all. */
  get foreignAllowed (): boolean {
    return this.confined || this.unsafe
  }

  status (limits: Limits = resolveLimits(DEFAULT_LIMITS, totalmem())): SandboxStatus {
    const c = this.caps
    return {
      confined: this.confined,
      unsafe: this.unsafe,
      reason: c.reason,
      limits: c.limits,
      limitsLine: describeLimits(c.limits, limits, { root: c.root, userns: c.userns }),
      gpu: c.gpu != null,
      userns: c.userns
    }
  }

  /** Kills what runs of a killed node left (processes, cgroups); returns what it did, in words. */
  async reapStale (): Promise<string[]> {
    const done = await this.registry.reapStale(async dirs => await RunCgroup.at(dirs).remove())
    if (this.caps.cgroup != null) {
      const { cgroups, killed } = await RunCgroup.reapStale(this.caps.cgroup, name => {
        const pid = Number(name.split('-')[0])
        if (!Number.isInteger(pid) || pid === process.pid) return pid === process.pid
        try { process.kill(pid, 0); return true } catch { return false }
      })
      const where = `${cgroups} cgroup${cgroups === 1 ? '' : 's'} left by killed runs`
      if (killed > 0) done.push(`killed ${killed} process${killed === 1 ? '' : 'es'} in ${where}`)
      else if (cgroups > 0) done.push(`removed ${where}`)
    }
    return done
  }

  async launch (project: ProjectInfo | null, spec: LaunchSpec): Promise<Launch> {
    const limits = resolveLimits(project?.manifest.sandbox ?? DEFAULT_LIMITS, totalmem())
    return this.confined
      ? await this.confinedLaunch(project, spec, limits)
      : await this.unconfinedLaunch(project, spec, limits)
  }

  private envFor (project: ProjectInfo | null, spec: LaunchSpec, home: string): Record<string, string> {
    const env = sandboxEnv({
      from: this.env,
      home,
      names: [...(project?.manifest.sandbox.env ?? []), ...(spec.envNames ?? [])],
      set: spec.env,
      vouched: spec.vouched
    })
    // The interpreter the node found comes first, past any shim that would need the shim's own folders.
    const exe = project?.python?.executable
    if (exe != null && isAbsolute(exe)) env.PATH = `${dirname(exe)}${delimiter}${env.PATH ?? ''}`
    return env
  }

  /** Host paths a run may be shown: never /, $HOME or the node's home as a whole, nor anything inside the node's home. */
  private allowed (p: string, workspace: string | null): boolean {
    if (!isAbsolute(p) || p === '/') return false
    for (const guarded of [this.userHome, this.home, '/home', '/root', '/tmp', '/var', '/run', '/proc', '/sys', '/dev', '/etc']) {
      if (contains(p, guarded)) return false // p is the guarded folder or above it
    }
    if (contains(this.home, p)) return false
    if (workspace != null && (contains(p, workspace) || contains(workspace, p))) return false
    return !this.caps.system.some(s => contains(s.path, p))
  }

  private async visible (paths: Array<string | null | undefined>, workspace: string | null): Promise<string[]> {
    const out = new Set<string>()
    for (const p of paths) {
      if (p == null || !isAbsolute(p)) continue
      const real = await realOrNull(p)
      if (real != null && this.allowed(real, workspace)) out.add(real)
    }
    // A folder inside another one already shown needs no bind of its own.
    const list = [...out].sort()
    return list.filter(p => !list.some(q => q !== p && contains(q, p)))
  }

  private async workspaceLayout (project: ProjectInfo): Promise<{ dir: string, existing: Map<string, Kind>, symlinked: Array<{ name: string, target: string }>, pycaches: string[] }> {
    const dir = await realpath(project.dir)
    const existing = new Map<string, Kind>()
    for (const name of await readdir(dir)) existing.set(name, (await kindOf(join(dir, name)))!)
    for (const o of project.manifest.outputs) {
      const p = o.replace(/\/$/, '')
      if (/[*?[\]!]/.test(p) || existing.has(p)) continue
      const kind = await kindOf(join(dir, p))
      if (kind !== undefined) existing.set(p, kind)
    }
    // A top-level link (data -> /mnt/big/data) points where the run must see too.
    const symlinked: Array<{ name: string, target: string }> = []
    for (const [name, kind] of existing) {
      if (kind !== 'symlink' || name.includes('/')) continue
      const target = await realOrNull(join(dir, name))
      if (target != null && !contains(dir, target)) symlinked.push({ name, target })
    }
    return { dir, existing, symlinked, pycaches: await findPycaches(dir, project.manifest.outputs) }
  }

  private async confinedLaunch (project: ProjectInfo | null, spec: LaunchSpec, limits: Limits): Promise<Launch> {
    const c = this.caps
    const home = this.caps.system.some(s => contains(s.path, this.userHome)) || this.userHome === '/' ? '/tmp/home' : this.userHome
    const env = this.envFor(project, spec, home)
    const manifestSandbox = project?.manifest.sandbox
    const expand = (p: string): string => expandHome(p, this.userHome)
    const dataDirs = (manifestSandbox?.data ?? []).map(expand)

    let workspace: Parameters<typeof bwrapArgs>[0]['workspace'] = null
    const created: string[] = []
    const readOnly: Array<string | null | undefined> = [
      ...(project?.python?.dirs ?? []),
      ...(env.PATH ?? '').split(delimiter),
      ...(manifestSandbox?.read_only ?? []).map(expand),
      ...(spec.readOnly ?? [])
    ]
    const readWrite: Array<string | null | undefined> = [...(spec.readWrite ?? [])]
    if (spec.profile === 'prepare') {
      for (const d of dataDirs) await mkdir(d, { recursive: true })
      readWrite.push(...dataDirs)
    } else {
      readOnly.push(...dataDirs)
    }

    let wsDir: string | null = null
    if (spec.profile !== 'verify') {
      if (project == null) throw new SandboxError(`a ${spec.profile} needs its project`)
      const layout = await this.workspaceLayout(project)
      wsDir = layout.dir
      const view = workspaceView(spec.profile, {
        existing: layout.existing,
        editable: project.manifest.editable,
        outputs: project.manifest.outputs,
        writable: project.manifest.sandbox.writable,
        pycaches: layout.pycaches
      })
      for (const d of view.createDirs) await mkdir(join(wsDir, d), { recursive: true })
      for (const f of view.createFiles) {
        const path = join(wsDir, f)
        await mkdir(dirname(path), { recursive: true })
        // O_EXCL: never through a link someone put there meanwhile.
        const h = await open(path, 'wx').catch(() => null)
        if (h != null) {
          await h.close()
          created.push(path)
        }
      }
      workspace = { dir: wsDir, view }
      // Only prepare writes through a linked output folder (the data); everything else linked is read-only.
      for (const { name, target } of layout.symlinked) {
        const data = spec.profile === 'prepare' && project.manifest.outputs.includes(`${name}/`)
        ;(data ? readWrite : readOnly).push(target)
      }
    }

    const inner: string[] = []
    const prlimitVisible = c.prlimit != null && c.system.some(s => contains(s.path, c.prlimit!))
    if (prlimitVisible) inner.push(...prlimitArgs(c.prlimit!, limits, { nproc: c.userns, memory: !(c.gpu != null && c.limits !== 'prlimit') }))
    inner.push(...(typeof spec.command === 'string' ? ['/bin/sh', '-c', spec.command] : spec.command))

    const args = bwrapArgs({
      userns: c.userns,
      disableUserns: c.disableUserns,
      network: spec.network === true,
      home,
      nodeHome: this.home,
      system: c.system,
      etc: c.etc,
      sys: c.gpu != null ? ['/sys'] : ['/sys/devices/system/cpu', '/sys/devices/system/node'],
      gpu: c.gpu,
      readOnly: await this.visible(readOnly, wsDir),
      readWrite: await this.visible(readWrite, wsDir),
      files: spec.files ?? [],
      workspace,
      chdir: spec.cwd,
      env,
      infoFd: INFO_FD,
      command: inner
    })
    const outer = await this.outerPrefix(limits)
    const chain = [...this.starter('KILL', outer.cgroup), ...outer.args, c.bwrap!, ...args]
    return this.made(chain, { PATH: this.env.PATH ?? '/usr/bin:/bin', ...outer.env }, INFO_FD, outer.cgroup, created)
  }

  private async unconfinedLaunch (project: ProjectInfo | null, spec: LaunchSpec, limits: Limits): Promise<Launch> {
    const c = this.caps
    const env = this.envFor(project, spec, this.userHome)
    const outer = await this.outerPrefix(limits)
    const command = typeof spec.command === 'string' ? ['/bin/sh', '-c', spec.command] : spec.command
    const chain = [
      ...this.starter('USR1', outer.cgroup),
      ...outer.args,
      ...(c.prlimit != null ? prlimitArgs(c.prlimit, limits, { nproc: false, memory: c.gpu == null || c.limits === 'prlimit' }) : []),
      ...command
    ]
    return this.made(chain, { ...env, ...outer.env }, null, outer.cgroup, [])
  }

  /**
   * The first process of every launch: a parent-death signal (setpriv) set
   * before anything else, then a shell that checks the node is still its
   * parent (a node killed in the instant after spawn would otherwise leave a
   * run with nobody to end it) and moves itself into the run's cgroup. In a
   * sandbox it then becomes bubblewrap, whose own --die-with-parent takes
   * over; unconfined (USR1) it stays, and when the node dies it kills the
   * run's whole process group.
   */
  private starter (signal: 'KILL' | 'USR1', cgroup: RunCgroup | null): string[] {
    const setpriv = this.caps.setpriv
    const procs = cgroup?.procsFiles ?? []
    if (setpriv == null && procs.length === 0) return []
    const steps = [
      ...(signal === 'USR1' ? ['trap "kill -KILL 0" USR1'] : []),
      ...(setpriv != null ? ['[ "$PPID" = "$0" ] || exit 125'] : []),
      ...procs.map((_, i) => `echo $$ > "$${i + 1}" || exit 125`),
      ...(procs.length > 0 ? [`shift ${procs.length}`] : []),
      signal === 'USR1' ? '"$@" & wait $!' : 'exec "$@"'
    ]
    const shell = ['/bin/sh', '-c', steps.join('; '), String(process.pid), ...procs]
    return setpriv != null ? [setpriv, '--pdeathsig', signal, '--', ...shell] : shell
  }

  /** systemd-run in front of the sandbox, or the run's own cgroup (made here, entered by the starter). */
  private async outerPrefix (limits: Limits): Promise<{ args: string[], env: Record<string, string>, cgroup: RunCgroup | null }> {
    const c = this.caps
    if (c.limits === 'systemd' && c.systemdRun != null) {
      const env: Record<string, string> = {}
      for (const k of ['XDG_RUNTIME_DIR', 'DBUS_SESSION_BUS_ADDRESS', 'HOME', 'USER']) if (this.env[k] != null) env[k] = this.env[k]
      return { args: systemdRunArgs(c.systemdRun, limits), env, cgroup: null }
    }
    if (c.limits === 'cgroup' && c.cgroup != null) {
      const cgroup = await RunCgroup.create(c.cgroup, `${process.pid}-${++this.runs}`, { processes: limits.processes, memoryBytes: limits.memoryBytes })
      return { args: [], env: {}, cgroup }
    }
    return { args: [], env: {}, cgroup: null }
  }

  private made (chain: string[], env: Record<string, string>, infoFd: number | null, cgroup: RunCgroup | null, created: string[]): Launch {
    let record: string | null = null
    return {
      file: chain[0]!,
      args: chain.slice(1),
      env,
      infoFd,
      started: async (pid, sandboxPid) => {
        const [node, leader, sandbox] = await Promise.all([refOf(process.pid), refOf(pid), sandboxPid == null ? null : refOf(sandboxPid)])
        if (node == null || leader == null) return
        record = await this.registry.add({ node, leader, sandbox, cgroups: cgroup?.dirs ?? [] }).catch(() => null)
      },
      finished: async () => {
        await cgroup?.remove()
        if (record != null) await this.registry.remove(record)
        // Output files made for the run to write into, which it never wrote, go again.
        for (const f of created) {
          const info = await stat(f).catch(() => null)
          if (info?.isFile() === true && info.size === 0) await rm(f, { force: true })
        }
      }
    }
  }
}

/** The one line a node prints at start about its sandbox. */
export function sandboxLine (s: SandboxStatus): string {
  if (s.confined) {
    const gpu = s.gpu ? '; GPU devices passed through' : ''
    const unsafe = s.unsafe ? ' (--unsafe-no-sandbox has no effect: the sandbox works here and stays on)' : ''
    return `sandbox: bubblewrap: no network, private /tmp and $HOME, node home hidden, writes only to outputs; limits: ${s.limitsLine}${gpu}${unsafe}`
  }
  if (s.unsafe) {
    return `WARNING: --unsafe-no-sandbox: no sandbox here (${s.reason ?? 'unknown'}); code from peers, the LLM and the agent runs with your full rights. limits: ${s.limitsLine}`
  }
  return `sandbox: none (${s.reason ?? 'unknown'}): only this node's own mutation candidates run; no adoption, no LLM or agent candidates (--unsafe-no-sandbox runs them unconfined)`
}
