/** `swarm-node plot`: the progress chart (like autoresearch's progress.png) as an SVG file, from the local results. */
import { resolve } from 'node:path'
import { writeFileAtomic } from '../fs-util.ts'
import { loadLocalResults } from '../control/local-results.ts'
import type { Output } from '../output.ts'
import { renderProgressSvg } from '../plot.ts'

export interface PlotCommandOptions { out: string, project?: string }

export async function plot (home: string, opts: PlotCommandOptions, out: Output): Promise<number> {
  const res = await loadLocalResults(home, opts.project, {})
  if (res.records.length === 0) return out.fail(`nothing to plot: no experiments recorded yet for project ${res.project.name ?? res.project.id.slice(0, 12)}`)
  const path = resolve(opts.out)
  await writeFileAtomic(path, renderProgressSvg(res.records, { title: res.project.name ?? `project ${res.project.id.slice(0, 12)}` }))
  const kept = res.records.filter(r => r.status === 'keep').length
  out.result({ path, project: res.project, experiments: res.records.length, kept }, `wrote ${path}: ${res.records.length} experiments, ${kept} kept`)
  return 0
}
