/**
 * `swarm-node results`: this node's experiment history, like results.tsv, with
 * filters; from the running node, or the results log when none runs.
 */
import { age, bpb, table } from '../control/format.ts'
import { loadLocalResults } from '../control/local-results.ts'
import { otherRunsNote, projectTitle } from '../control/project-ref.ts'
import { countRecords, countsPhrase, parseSince, type RecordFilter, type RecordStatus } from '../control/records.ts'
import type { Output } from '../output.ts'
import { safeLine } from '../sanitize.ts'

export interface ResultsOptions { project?: string, status?: RecordStatus, limit?: number, since?: string }

export async function results (home: string, opts: ResultsOptions, out: Output): Promise<number> {
  const f: RecordFilter = { status: opts.status, limit: opts.limit, since: opts.since != null ? parseSince(opts.since) : undefined }
  const res = await loadLocalResults(home, opts.project, f)
  // With --json the warnings travel inside the one document; otherwise on stderr.
  if (!out.json) for (const w of res.warnings) process.stderr.write(`warning: ${safeLine(w)}\n`)
  const rows = res.records.map(r => {
    const origin = r.origin
    return [String(r.seq), r.commit.slice(0, 7), bpb(r.val_bpb), bpb(r.verified_bpb), bpb(r.decision_bpb),
      (r.memory_gb ?? 0).toFixed(1), r.status, age(r.finished_at), `${r.description}${origin?.author != null ? ` (adopted from …${origin.author.slice(-6)})` : ''}`]
  })
  const name = projectTitle(res.project)
  const from = res.source === 'node' ? 'from the running node' : 'from the results log'
  const note = otherRunsNote(res.project)
  const text = (rows.length === 0
    ? `no experiments match in ${name} (${from})`
    : table(['seq', 'commit', 'val_bpb', 'verified', 'decision', 'mem_gb', 'status', 'age', 'description'], rows, ['r', 'l', 'r', 'r', 'r', 'r', 'l', 'r', 'l']) +
      `\n${name}: ${countsPhrase(countRecords(res.records))} (${from})`) + (note !== '' ? `\n${note}` : '')
  out.result({ project: res.project, source: res.source, records: res.records, warnings: res.warnings }, text)
  return 0
}
