/**
 * Which project a command means when no running node says. `--project` may be
 * a project directory, a project name (`brown-bytes`), a project id or a
 * prefix of one (at least 4 hex digits); without it, the newest run of the
 * home's default project, else the newest run of any project. A project run
 * with another `--budget` has another id, so a directory or a name stands for
 * its newest run, and the others are named in `others`. Ambiguity is an error
 * that lists the candidates.
 */
import { readdir, realpath, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { MANIFEST_FILE, loadProject } from '../../trainer/project.ts'
import { lastUsed, readRunInfo, type RunInfo } from '../../trainer/run-info.ts'
import { paths } from '../home.ts'

export interface ProjectRef {
  id: string
  name?: string
  dir?: string
  budget_s?: number
  /** Other runs of the same project (another budget), newest first, when a directory or name picked one. */
  others?: KnownRun[]
}

/** A run this home has results for. */
export interface KnownRun { id: string, info: RunInfo | null, lastUsed: number }

/** A mistake in what the operator asked for (exit status 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  readonly exitCode = 2
}

const HASH_RE = /^[0-9a-f]{64}$/
const PREFIX_RE = /^[0-9a-f]{4,63}$/

const isFile = async (p: string): Promise<boolean> => await stat(p).then(s => s.isFile(), () => false)
const canonicalDir = async (dir: string): Promise<string> => await realpath(dir).catch(() => resolve(dir))

/** Project ids this home has a results log for. */
export async function knownProjects (home: string): Promise<string[]> {
  const names = await readdir(paths.runs(home)).catch(() => [] as string[])
  return names.filter(n => HASH_RE.test(n)).sort()
}

/** Every run of this home that recorded something, with what it belongs to, newest first. */
export async function knownRuns (home: string): Promise<KnownRun[]> {
  const runs = await Promise.all((await knownProjects(home)).map(async id => ({ id, info: await readRunInfo(home, id), lastUsed: await lastUsed(home, id) })))
  return runs.filter((r): r is KnownRun => r.lastUsed != null).sort((a, b) => b.lastUsed - a.lastUsed || a.id.localeCompare(b.id))
}

/** "brown-bytes d55a7404ae7c (budget 30 s)": a run as a person tells it apart. */
export function describeRun (r: KnownRun): string {
  return [r.info?.name, r.id.slice(0, 12), r.info != null ? `(budget ${r.info.budget_s} s${r.info.dir !== '' ? `, ${r.info.dir}` : ''})` : '']
    .filter(x => x != null && x !== '').join(' ')
}

function refOf (run: KnownRun, others: KnownRun[] = []): ProjectRef {
  const i = run.info
  return { id: run.id, ...(i != null ? { name: i.name, dir: i.dir, budget_s: i.budget_s } : {}), ...(others.length > 0 ? { others } : {}) }
}

async function runsInDir (runs: KnownRun[], dir: string): Promise<KnownRun[]> {
  const want = await canonicalDir(dir)
  const out: KnownRun[] = []
  for (const r of runs) if (r.info != null && await canonicalDir(r.info.dir) === want) out.push(r)
  return out
}

/** A project directory: its newest run here, else the id its manifest gives (a project without results yet). */
async function fromDir (dir: string, runs: KnownRun[]): Promise<ProjectRef> {
  const mine = await runsInDir(runs, dir)
  if (mine.length > 0) return refOf(mine[0]!, mine.slice(1))
  const p = await loadProject(dir)
  return { id: p.id, name: p.manifest.name, dir, budget_s: p.manifest.budget_s }
}

function ambiguous (flag: string, what: string, candidates: KnownRun[]): UsageError {
  return new UsageError(`--project ${flag} is ambiguous: ${candidates.length} ${what} match:\n${candidates.map(c => `  ${describeRun(c)}`).join('\n')}\npass more of the id (or the directory)`)
}

function byName (flag: string, runs: KnownRun[]): ProjectRef | null {
  const named = runs.filter(r => r.info?.name === flag)
  if (named.length === 0) return null
  // One name in two directories is two projects; in one directory, runs under different budgets.
  const dirs = new Set(named.map(r => r.info!.dir))
  if (dirs.size > 1) throw ambiguous(flag, 'projects with that name', named)
  return refOf(named[0]!, named.slice(1))
}

function byId (flag: string, runs: KnownRun[]): ProjectRef | null {
  const hits = runs.filter(r => r.id.startsWith(flag))
  if (hits.length > 1) throw ambiguous(flag, 'project ids', hits)
  if (hits.length === 1) return refOf(hits[0]!)
  // A full id needs no results here: `leaderboard` asks the swarm about any project.
  return HASH_RE.test(flag) ? { id: flag } : null
}

export async function resolveProject (home: string, flag?: string): Promise<ProjectRef> {
  const runs = await knownRuns(home)
  if (flag != null) {
    if (await isFile(join(resolve(flag), MANIFEST_FILE))) return await fromDir(resolve(flag), runs)
    const found = byName(flag, runs) ?? (PREFIX_RE.test(flag) || HASH_RE.test(flag) ? byId(flag, runs) : null)
    if (found != null) return found
    const names = [...new Set(runs.map(r => r.info?.name).filter((n): n is string => n != null))]
    throw new UsageError(`--project ${flag}: not a project directory (with a ${MANIFEST_FILE}), nor the name or id of a project the home ${home} has run` +
      (runs.length > 0 ? `; it has results for ${names.length > 0 ? `${names.join(', ')} (` : '('}ids ${runs.map(r => r.id.slice(0, 12)).join(', ')})` : ''))
  }
  const def = paths.defaultProject(home)
  if (await isFile(join(def, MANIFEST_FILE))) return await fromDir(def, runs)
  if (runs.length > 0) return refOf(runs[0]!, runs.slice(1))
  throw new UsageError(`which project? No node runs with the home ${home}, it has no default project and no results: pass --project <dir, name or id>, or run \`npx swarm-node start\` first`)
}

/** "brown-bytes" or "project d55a7404ae7c": how commands title a project. */
export function projectTitle (p: ProjectRef): string {
  return p.name ?? `project ${p.id.slice(0, 12)}`
}

/** A line naming the project's other runs (other budgets), or '' when there are none. */
export function otherRunsNote (p: ProjectRef): string {
  const o = p.others ?? []
  if (o.length === 0) return ''
  return `(this home has ${o.length === 1 ? 'another run' : `${o.length} other runs`}: ${o.map(describeRun).join('; ')}; pass --project <id> to see ${o.length === 1 ? 'it' : 'one'})`
}
