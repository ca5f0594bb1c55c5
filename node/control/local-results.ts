/**
 * This node's experiment history for `results` and `plot`: from the running
 * node when one runs and no other project is asked for, else straight from
 * `<home>/runs/<project id>/experiments.jsonl`, which is the source of truth.
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { ResultsLog, type ExperimentRecord } from '../../trainer/results-log.ts'
import { paths } from '../home.ts'
import { findNode } from './client.ts'
import { knownProjects, resolveProject, type ProjectRef } from './project-ref.ts'
import { filterRecords, type RecordFilter } from './records.ts'
import type { NodeState } from './view.ts'

export interface LocalResults {
  project: ProjectRef
  source: 'node' | 'file'
  records: ExperimentRecord[]
  warnings: string[]
}

export const experimentsPath = (home: string, project: string): string => join(paths.runs(home), project, 'experiments.jsonl')

export async function loadLocalResults (home: string, projectFlag: string | undefined, f: RecordFilter): Promise<LocalResults> {
  if (projectFlag == null) {
    const node = await findNode(home)
    if (node != null) {
      const state = await node.get<NodeState>('/api/status')
      const { records } = await node.get<{ records: ExperimentRecord[] }>('/api/results', { status: f.status, limit: f.limit, since: f.since })
      return { project: state.project, source: 'node', records, warnings: [] }
    }
  }
  const project = await resolveProject(home, projectFlag)
  const path = experimentsPath(home, project.id)
  try {
    await access(path)
  } catch {
    const known = await knownProjects(home)
    throw new Error(`no experiments recorded for project ${project.id.slice(0, 12)} in ${home}` +
      (known.length > 0 ? ` (it has results for ${known.map(k => k.slice(0, 12)).join(', ')}; a node started with --budget has its own id)` : ': run `swarm-node start` first'))
  }
  const log = new ResultsLog({ tsvPath: '', jsonlPath: path })
  const all = await log.readAll()
  return { project, source: 'file', records: filterRecords(all, f), warnings: log.warnings }
}
