/**
 * Which project a command means when no running node says: `--project` as a
 * 64-hex id or a project directory (its id computed like `start` does), else
 * the home's default project, else the only project the home has results for.
 */
import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { MANIFEST_FILE, loadProject } from '../../trainer/project.ts'
import { paths } from '../home.ts'

export interface ProjectRef { id: string, name?: string, dir?: string }

/** A mistake in what the operator asked for (exit status 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  readonly exitCode = 2
}

const HASH_RE = /^[0-9a-f]{64}$/

const isFile = async (p: string): Promise<boolean> => await stat(p).then(s => s.isFile(), () => false)

/** Project ids this home has a results log for. */
export async function knownProjects (home: string): Promise<string[]> {
  const names = await readdir(paths.runs(home)).catch(() => [] as string[])
  return names.filter(n => HASH_RE.test(n)).sort()
}

async function fromDir (dir: string): Promise<ProjectRef> {
  const p = await loadProject(dir)
  return { id: p.id, name: p.manifest.name, dir }
}

export async function resolveProject (home: string, flag?: string): Promise<ProjectRef> {
  if (flag != null) {
    if (HASH_RE.test(flag)) return { id: flag }
    const dir = resolve(flag)
    if (await isFile(join(dir, MANIFEST_FILE))) return await fromDir(dir)
    throw new UsageError(`--project ${flag}: neither a 64-hex project id nor a directory with a ${MANIFEST_FILE}`)
  }
  const def = paths.defaultProject(home)
  if (await isFile(join(def, MANIFEST_FILE))) return await fromDir(def)
  const known = await knownProjects(home)
  if (known.length === 1) return { id: known[0]! }
  throw new UsageError(known.length === 0
    ? `which project? No node runs with the home ${home} and it has no default project: pass --project <dir or id>`
    : `which project? The home ${home} has results for ${known.length}: pass --project <dir or id> (ids: ${known.map(k => k.slice(0, 12)).join(', ')})`)
}
