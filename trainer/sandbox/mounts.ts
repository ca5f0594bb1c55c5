/**
 * What a sandboxed process sees, as bubblewrap arguments. Pure: the caller
 * looks at the disk (sandbox.ts) and hands over plain lists; this module
 * decides the mounts and their order, so the whole filesystem policy can be
 * read, and tested, in one place.
 *
 * The view starts empty (bubblewrap's own root) and only what is listed gets
 * in: the system read-only, a private /tmp, an empty $HOME, the project's
 * workspace with its own rules per profile, and nothing of the node's home
 * (identity key, control token, store, logs), which is masked even where a
 * bound folder would otherwise show it.
 */
import { posix } from 'node:path'

/**
 * What is being run. `prepare`: the project's prepare command, which may write
 * its data. `run`: a training run, which may write only its declared outputs.
 * `agent`: an external coding agent, which may edit the project's files (the
 * node reverts anything but the editable ones) and never the data or git.
 * `verify`: the node's own ONNX re-measurement of a model a run produced.
 */
export type Profile = 'prepare' | 'run' | 'agent' | 'verify'

export type Kind = 'file' | 'dir' | 'symlink' | 'other'

/** The node writes these itself; a run must never be able to swap them for a link. */
export const NODE_OWNED_OUTPUTS = ['run.log', 'prepare.log', 'results.tsv']

export interface WorkspaceView {
  /** How the workspace folder itself is bound. */
  root: 'ro' | 'rw'
  /** Paths inside the workspace bound again over the root, parents before children; `hide` is an empty folder. */
  overrides: Array<{ path: string, mode: 'ro' | 'rw' | 'hide' }>
  /** What the caller must create (empty) before the sandbox starts, so it can be bound. */
  createDirs: string[]
  createFiles: string[]
}

export interface WorkspaceRules {
  /** Workspace-relative paths that exist now, with their kind (top-level entries and every plain output path). */
  existing: ReadonlyMap<string, Kind>
  /** Python bytecode caches in the workspace (`__pycache__` folders): whoever wrote them, no run imports them. */
  pycaches?: readonly string[]
  editable: readonly string[]
  outputs: readonly string[]
  /** Output folders runs may write (`x/`); every other output folder is data. */
  writable: readonly string[]
}

const plain = (p: string): boolean => !/[*?[\]!]/.test(p) && !p.startsWith('/') && p.replace(/\/$/, '') !== ''

/**
 * The workspace as a profile sees it.
 * - prepare/run: read-only, except output files the run writes (model.onnx)
 *   and writable output folders; prepare may also write the data folders.
 *   `.git`, the editable files, every fixed file, the data and the files the
 *   node writes (run.log, results.tsv) are read-only. The workspace's
 *   __pycache__ folders are hidden: a .pyc planted there (by an unconfined run
 *   of old) would otherwise be imported instead of the source.
 * - agent: writable, so editors can replace files by renaming; `.git` and
 *   every output (the data above all) stay read-only, because the node can
 *   revert tracked files afterwards but not data.
 */
export function workspaceView (profile: Exclude<Profile, 'verify'>, w: WorkspaceRules): WorkspaceView {
  const overrides: WorkspaceView['overrides'] = []
  const createDirs: string[] = []
  const createFiles: string[] = []
  const outputs = w.outputs.filter(plain)
  const hidden = (w.pycaches ?? []).map(path => ({ path, mode: 'hide' as const }))
  if (profile === 'agent') {
    if (w.existing.has('.git')) overrides.push({ path: '.git', mode: 'ro' })
    for (const o of outputs) {
      const p = o.replace(/\/$/, '')
      const kind = w.existing.get(p)
      if (kind === 'file' || kind === 'dir') overrides.push({ path: p, mode: 'ro' })
    }
    return { root: 'rw', overrides: byDepth([...overrides, ...hidden]), createDirs, createFiles }
  }
  for (const o of outputs) {
    const p = o.replace(/\/$/, '')
    const kind = w.existing.get(p)
    if (o.endsWith('/')) {
      if (p === '__pycache__' || p.endsWith('/__pycache__')) continue
      const rw = w.writable.includes(o) || profile === 'prepare'
      if (!rw) continue
      if (kind === undefined) createDirs.push(p)
      if (kind === undefined || kind === 'dir') overrides.push({ path: p, mode: 'rw' })
    } else {
      if (NODE_OWNED_OUTPUTS.includes(p) || w.editable.includes(p)) continue
      if (kind === undefined) createFiles.push(p)
      if (kind === undefined || kind === 'file') overrides.push({ path: p, mode: 'rw' })
    }
  }
  return { root: 'ro', overrides: byDepth([...overrides, ...hidden]), createDirs, createFiles }
}

function byDepth<T extends { path: string }> (list: T[]): T[] {
  return [...list].sort((a, b) => a.path.split('/').length - b.path.split('/').length || (a.path < b.path ? -1 : 1))
}

export interface SystemPath { path: string, symlink?: string }

export interface BwrapPlan {
  /** Create a user namespace; false where bwrap is setuid without user namespaces. */
  userns: boolean
  /** Forbid nested user namespaces inside (bubblewrap >= 0.8). */
  disableUserns: boolean
  /** Keep the host's network (only the agent, and only when the user asks). */
  network: boolean
  /** $HOME inside: an empty private folder at this path. */
  home: string
  /** The node's home: never visible, whatever is bound around it. */
  nodeHome: string
  system: SystemPath[]
  /** Entries of /etc (absolute paths) that may be read. */
  etc: string[]
  /** Parts of /sys (all of it with a GPU). */
  sys: string[]
  gpu: { devices: string[], procDriver: string | null } | null
  readOnly: string[]
  readWrite: string[]
  /** Single files bound read-only at another path (the model and data the verifier reads). */
  files: Array<{ src: string, dest: string }>
  workspace: { dir: string, view: WorkspaceView } | null
  chdir: string
  env: Record<string, string>
  /** bwrap writes {"child-pid": n} here, so the node can wait for the whole sandbox to end. */
  infoFd: number | null
  command: string[]
}

/** True when `a` is `b` or a folder above it. */
export function contains (a: string, b: string): boolean {
  const rel = posix.relative(a, b)
  return rel === '' || (!rel.startsWith('..') && !posix.isAbsolute(rel))
}

export function bwrapArgs (p: BwrapPlan): string[] {
  const a: string[] = ['--unshare-all']
  if (p.network) a.push('--share-net')
  if (p.userns) a.push('--unshare-user')
  if (p.userns && p.disableUserns) a.push('--disable-userns')
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL')
  a.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/dev/shm')
  for (const d of p.gpu?.devices ?? []) a.push('--dev-bind', d, d)
  for (const s of p.system) {
    if (s.symlink != null) a.push('--symlink', s.symlink, s.path)
    else a.push('--ro-bind', s.path, s.path)
  }
  for (const e of p.etc) a.push('--ro-bind-try', e, e)
  for (const s of p.sys) a.push('--ro-bind-try', s, s)
  if (p.gpu?.procDriver != null) a.push('--ro-bind', p.gpu.procDriver, p.gpu.procDriver)
  a.push('--tmpfs', '/tmp', '--tmpfs', '/var/tmp')
  const systemHome = p.system.some(s => contains(s.path, p.home)) || p.home === '/'
  if (systemHome) throw new Error(`sandbox home ${p.home} would hide part of the system`)
  a.push('--tmpfs', p.home)

  // Nothing from inside the node's home but the workspace.
  const allowed = (path: string): boolean => !contains(p.nodeHome, path)
  const binds: Array<[string, string]> = [
    ...p.readOnly.filter(allowed).map(x => ['--ro-bind', x] as [string, string]),
    ...p.readWrite.filter(allowed).map(x => ['--bind', x] as [string, string])
  ]
  for (const [flag, path] of binds) a.push(flag, path, path)
  for (const f of p.files) a.push('--ro-bind', f.src, f.dest)
  const shown = [...binds.map(b => b[1]), ...(p.workspace != null ? [p.workspace.dir] : [])]
  const mask = (): void => { if (shown.some(s => contains(s, p.nodeHome))) a.push('--tmpfs', p.nodeHome) }
  const wsInHome = p.workspace != null && contains(p.nodeHome, p.workspace.dir)
  if (wsInHome) mask()
  if (p.workspace != null) {
    const { dir, view } = p.workspace
    a.push(view.root === 'ro' ? '--ro-bind' : '--bind', dir, dir)
    for (const o of view.overrides) {
      const path = posix.join(dir, o.path)
      if (o.mode === 'hide') a.push('--tmpfs', path, '--remount-ro', path)
      else a.push(o.mode === 'ro' ? '--ro-bind' : '--bind', path, path)
    }
  }
  if (!wsInHome) mask()
  // bubblewrap's own root stays read-only: a write outside the binds fails instead of vanishing.
  a.push('--remount-ro', '/')
  a.push('--chdir', p.chdir, '--clearenv')
  for (const [k, v] of Object.entries(p.env)) a.push('--setenv', k, v)
  if (p.infoFd != null) a.push('--info-fd', String(p.infoFd))
  a.push('--', ...p.command)
  return a
}
