/**
 * This node's experiment history for `results` and `plot`: from the running
 * node when one runs and no project is named, else straight from
 * `<home>/runs/<project id>/experiments.jsonl`, which is the source of truth.
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { ResultsLog, type ExperimentRecord } from '../../trainer/results-log.ts'
import { EXPERIMENTS_FILE, runDir } from '../../trainer/run-info.ts'
import { findNode } from './client.ts'
import { describeRun, knownRuns, resolveProject, type ProjectRef } from './project-ref.ts'
import { filterRecords, type RecordFilter } from './records.ts'
import type { NodeState } from './view.ts'

export interface LocalResults {
  project: ProjectRef
  source: 'node' | 'file'
  records: ExperimentRecord[]
  warnings: string[]
}

export const experimentsPath = (home: string, project: string): string => join(runDir(home, project), EXPERIMENTS_FILE)

export async function loadLocalResults (home: string, projectFlag: string | undefined, f: RecordFilter): Promise<LocalResults> {
  const node = await findNode(home)
  const state = node != null ? await node.get<NodeState>('/api/status') : null
  const project = projectFlag == null && state != null ? state.project : await resolveProject(home, projectFlag)
  // The running node's own project is best asked of the node: it knows the experiment just recorded.
  if (node != null && state != null && project.id === state.project.id) {
    const { records } = await node.get<{ records: ExperimentRecord[] }>('/api/results', { status: f.status, limit: f.limit, since: f.since })
    return { project: { ...project, ...state.project }, source: 'node', records, warnings: [] }
  }
  const path = experimentsPath(home, project.id)
  try {
    await access(path)
  } catch {
    const runs = await knownRuns(home)
    throw new Error(`no experiments recorded for ${project.name ?? 'project'} ${project.id.slice(0, 12)} in ${home}` +
      (runs.length > 0 ? ` (it has results for ${runs.map(describeRun).join('; ')}: pass --project <name or id>)` : ': run `npx swarm-node start` first'))
  }
  const log = new ResultsLog({ tsvPath: '', jsonlPath: path })
  const all = await log.readAll()
  return { project, source: 'file', records: filterRecords(all, f), warnings: log.warnings }
}
