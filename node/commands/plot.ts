/** `swarm-node plot`: the progress chart (like autoresearch's progress.png) as an SVG file, from the local results. */
import { resolve } from 'node:path'
import { writeFileAtomic } from '../fs-util.ts'
import { loadLocalResults } from '../control/local-results.ts'
import { otherRunsNote, projectTitle } from '../control/project-ref.ts'
import { countRecords, countsPhrase } from '../control/records.ts'
import type { Output } from '../output.ts'
import { renderProgressSvg } from '../plot.ts'

export interface PlotCommandOptions { out: string, project?: string }

export async function plot (home: string, opts: PlotCommandOptions, out: Output): Promise<number> {
  const res = await loadLocalResults(home, opts.project, {})
  const name = projectTitle(res.project)
  if (res.records.length === 0) return out.fail(`nothing to plot: no experiments recorded yet for ${name}`)
  const path = resolve(opts.out)
  await writeFileAtomic(path, renderProgressSvg(res.records, { title: name }))
  const counts = countRecords(res.records)
  const note = otherRunsNote(res.project)
  out.result({ path, project: res.project, experiments: counts.experiments, kept: counts.kept, recorded: counts.recorded },
    `wrote ${path}: ${name}, ${countsPhrase(counts)}${note !== '' ? `\n${note}` : ''}`)
  return 0
}
