/**
 * What this machine offers a sandbox, found once per process: a working
 * bubblewrap (and whether it can make user namespaces), which way of limiting
 * memory and processes works, a parent-death signal for unconfined runs, and
 * the GPU devices to hand through. Every "no" carries a reason in words, for
 * the one line the node prints at start.
 *
 * SWARM_BWRAP names the bubblewrap binary (default `bwrap` on PATH); `none`
 * turns the sandbox off, as on a machine without it (tests use this).
 */
import { execFile } from 'node:child_process'
import { access, lstat, readdir, readlink, stat } from 'node:fs/promises'
import { constants as fsConstants } from 'node:fs'
import { delimiter, isAbsolute, join } from 'node:path'
import { findCgroupParents, type CgroupParents } from './cgroup.ts'
import type { LimitsKind } from './limits.ts'
import type { SystemPath } from './mounts.ts'

export interface Capabilities {
  /** The bubblewrap binary that works here, or null (then `reason` says why). */
  bwrap: string | null
  /** bubblewrap may create a user namespace (not so where it is setuid and they are off). */
  userns: boolean
  /** bubblewrap can forbid nested user namespaces inside (--disable-userns, bubblewrap >= 0.8). */
  disableUserns: boolean
  reason: string | null
  limits: LimitsKind
  prlimit: string | null
  systemdRun: string | null
  cgroup: CgroupParents | null
  /** setpriv with --pdeathsig, for runs outside a sandbox. */
  setpriv: string | null
  system: SystemPath[]
  etc: string[]
  gpu: { devices: string[], procDriver: string | null } | null
  root: boolean
}

const PROBE_TIMEOUT_MS = 10_000
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt', '/nix']
/** What of /etc a run may read: users and groups, the loader, locale and time, certificates, Python's own. */
export const ETC_ALLOWED = [
  'passwd', 'group', 'hosts', 'host.conf', 'hostname', 'nsswitch.conf', 'gai.conf', 'protocols', 'services',
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'localtime', 'timezone', 'locale.alias', 'locale.conf',
  'ssl/certs', 'ca-certificates', 'ca-certificates.conf', 'pki/tls/certs', 'os-release', 'lsb-release', 'debian_version',
  'mime.types', 'fonts', 'matplotlibrc', 'OpenCL', 'vulkan', 'glvnd', 'nvidia', 'cuda'
]
const ETC_PATTERN = /^python3(\.\d+)?$/
const GPU_DEVICE = /^(nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset|-caps)|kfd|dri)$/

const exists = async (p: string): Promise<boolean> => await access(p).then(() => true, () => false)

async function run (file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean, out: string }> {
  return await new Promise(resolve => {
    execFile(file, args, { env, timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, out: `${String(stdout)}${String(stderr)}`.trim() })
    })
  })
}

/** An executable on PATH (or the path itself when it has a slash). */
export async function which (name: string, path = process.env.PATH ?? ''): Promise<string | null> {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).filter(d => isAbsolute(d)).map(d => join(d, name))
  for (const c of candidates) {
    try {
      await access(c, fsConstants.X_OK)
      if ((await stat(c)).isFile()) return c
    } catch {}
  }
  return null
}

async function systemPaths (): Promise<SystemPath[]> {
  const out: SystemPath[] = []
  for (const path of SYSTEM_DIRS) {
    const info = await lstat(path).catch(() => null)
    if (info == null) continue
    if (info.isSymbolicLink()) out.push({ path, symlink: await readlink(path) })
    else if (info.isDirectory()) out.push({ path })
  }
  return out
}

async function etcEntries (): Promise<string[]> {
  const names = await readdir('/etc').catch(() => [] as string[])
  const wanted = [...ETC_ALLOWED, ...names.filter(n => ETC_PATTERN.test(n))]
  const out: string[] = []
  for (const n of wanted) if (await exists(join('/etc', n))) out.push(join('/etc', n))
  return out
}

async function gpuDevices (): Promise<Capabilities['gpu']> {
  const names = (await readdir('/dev').catch(() => [] as string[])).filter(n => GPU_DEVICE.test(n)).sort()
  if (!names.some(n => n.startsWith('nvidia') || n === 'kfd')) return null
  const procDriver = await exists('/proc/driver/nvidia') ? '/proc/driver/nvidia' : null
  return { devices: names.map(n => join('/dev', n)), procDriver }
}

/** The smallest sandbox that shows whether bubblewrap works here at all. */
function probeArgs (userns: boolean, disableUserns: boolean): string[] {
  return ['--unshare-all', ...(userns ? ['--unshare-user'] : []), ...(disableUserns ? ['--disable-userns'] : []), '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
    '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--', 'true']
}

type BwrapProbe = Pick<Capabilities, 'bwrap' | 'userns' | 'disableUserns' | 'reason'>

async function probeBwrap (env: NodeJS.ProcessEnv): Promise<BwrapProbe> {
  const none = (reason: string): BwrapProbe => ({ bwrap: null, userns: false, disableUserns: false, reason })
  if (process.platform !== 'linux') return none(`bubblewrap needs Linux (this is ${process.platform})`)
  const wanted = env.SWARM_BWRAP ?? 'bwrap'
  if (wanted === 'none' || wanted === '') return none('turned off by SWARM_BWRAP=none')
  const bwrap = await which(wanted, env.PATH)
  if (bwrap == null) return none(`bubblewrap (${wanted}) is not installed; on Debian/Ubuntu: apt-get install bubblewrap`)
  // Best first: a user namespace with nested ones forbidden; older bubblewrap (< 0.8) without the latter; setuid bubblewrap without either.
  const full = await run(bwrap, probeArgs(true, true), env)
  if (full.ok) return { bwrap, userns: true, disableUserns: true, reason: null }
  if ((await run(bwrap, probeArgs(true, false), env)).ok) return { bwrap, userns: true, disableUserns: false, reason: null }
  const setuid = await run(bwrap, probeArgs(false, false), env)
  if (setuid.ok) return { bwrap, userns: false, disableUserns: false, reason: null }
  const why = full.out.split('\n').pop() ?? ''
  const hint = /user namespace|permission|EPERM|Operation not permitted|No space left/i.test(why)
    ? ' (unprivileged user namespaces look disabled: sysctl kernel.unprivileged_userns_clone=1, or user.max_user_namespaces > 0, or an AppArmor profile for bwrap)'
    : ''
  return none(`${bwrap} does not work here: ${why || 'no output'}${hint}`)
}

async function probeSystemd (env: NodeJS.ProcessEnv): Promise<string | null> {
  const systemdRun = await which('systemd-run', env.PATH)
  if (systemdRun == null) return null
  const r = await run(systemdRun, ['--user', '--scope', '--quiet', '--collect', '-p', 'TasksMax=64', '--', 'true'], env)
  return r.ok ? systemdRun : null
}

async function probeSetpriv (env: NodeJS.ProcessEnv): Promise<string | null> {
  const setpriv = await which('setpriv', env.PATH)
  if (setpriv == null) return null
  const r = await run(setpriv, ['--pdeathsig', 'USR1', '--', 'true'], env)
  return r.ok ? setpriv : null
}

export async function probeCapabilities (env: NodeJS.ProcessEnv = process.env): Promise<Capabilities> {
  const [bw, system, etc, gpu, prlimit, setpriv] = await Promise.all([
    probeBwrap(env), systemPaths(), etcEntries(), gpuDevices(), which('prlimit', env.PATH), probeSetpriv(env)
  ])
  const systemdRun = process.platform === 'linux' ? await probeSystemd(env) : null
  const cgroup = systemdRun == null && process.platform === 'linux' ? await findCgroupParents() : null
  const limits: LimitsKind = systemdRun != null ? 'systemd' : cgroup != null ? 'cgroup' : prlimit != null ? 'prlimit' : 'none'
  return { ...bw, limits, prlimit, systemdRun, cgroup, setpriv, system, etc, gpu, root: process.getuid?.() === 0 }
}

const cache = new Map<string, Promise<Capabilities>>()

/** probeCapabilities, once per process and setting. */
export async function capabilities (env: NodeJS.ProcessEnv = process.env): Promise<Capabilities> {
  const key = `${env.SWARM_BWRAP ?? ''}\0${env.PATH ?? ''}`
  let p = cache.get(key)
  if (p == null) {
    p = probeCapabilities(env)
    cache.set(key, p)
  }
  return await p
}
