/**
 * What a run directory (`<home>/runs/<project id>/`) belongs to: the project's
 * name, its directory and budget. A project id is a hash, so without this a
 * user could only find their results by an id they never typed; with it
 * `results --project brown-bytes` (or a directory) finds the run, and the
 * newest run of the default project is the one commands show by default.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const RUN_INFO_FILE = 'run.json'
export const EXPERIMENTS_FILE = 'experiments.jsonl'

export interface RunInfo {
  id: string
  name: string
  /** The project directory the run was started on (absolute). */
  dir: string
  budget_s: number
}

export const runDir = (home: string, project: string): string => join(home, 'runs', project)

/** Written at every start: a moved project or a renamed one is found by what it is now. */
export async function writeRunInfo (home: string, info: RunInfo): Promise<void> {
  const dir = runDir(home, info.id)
  await mkdir(dir, { recursive: true })
  // Renamed into place: a reader never sees half a file (losing it is harmless, the next start rewrites it).
  const tmp = join(dir, `${RUN_INFO_FILE}.tmp-${process.pid}`)
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n')
  await rename(tmp, join(dir, RUN_INFO_FILE))
}

/** The run's info, or null for a run made before run.json existed (or a damaged one). */
export async function readRunInfo (home: string, project: string): Promise<RunInfo | null> {
  try {
    const v = JSON.parse(await readFile(join(runDir(home, project), RUN_INFO_FILE), 'utf8')) as Partial<RunInfo>
    if (v.id !== project || typeof v.name !== 'string' || typeof v.dir !== 'string' || typeof v.budget_s !== 'number') return null
    return { id: v.id, name: v.name, dir: v.dir, budget_s: v.budget_s }
  } catch {
    return null
  }
}

/**
 * When the run last recorded something (ms epoch, the log's mtime), or null
 * when it never did: a start whose first baseline failed leaves run.json alone,
 * and that must not hide an older run that has results.
 */
export async function lastUsed (home: string, project: string): Promise<number | null> {
  const s = await stat(join(runDir(home, project), EXPERIMENTS_FILE)).catch(() => null)
  return s?.mtimeMs ?? null
}
