/**
 * `swarm-node plot` and its renderer: the progress chart as SVG from the
 * results log (no node needed), with kept results joined as the running best,
 * crashes marked, outliers clipped, and descriptions escaped.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { niceTicks, renderProgressSvg } from '../node/plot.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

const PROJECT = 'c'.repeat(64)

function rec (seq: number, status: ExperimentRecord['status'], val: number | null, description = `change ${seq}`): ExperimentRecord {
  return {
    id: `main-${seq}`, seq, commit: seq.toString(16).padStart(40, '0'), parent: '0'.repeat(40), status, val_bpb: val, verified_bpb: null,
    decision_bpb: status === 'baseline' ? undefined : val, memory_gb: 0, description, reason: '', proposer: 'mutation', metrics: {}, track: 'cpu',
    started_at: 1_700_000_000_000 + seq * 1000, finished_at: 1_700_000_000_500 + seq * 1000
  }
}

const HISTORY = [
  rec(1, 'baseline', 1.2, 'baseline'), rec(2, 'discard', 1.25), rec(3, 'keep', 1.1, 'DEPTH 4 -> 6'), rec(4, 'crash', null, 'LR 100x'),
  rec(5, 'discard', 9.5, 'diverged'), rec(6, 'keep', 1.05, 'LR <0.02> & "warmup"'), rec(7, 'discard', 1.08)
]

describe('renderProgressSvg', () => {
  it('draws every experiment, the running best through the keeps, crashes and clipped outliers', () => {
    const svg = renderProgressSvg(HISTORY, { title: 'fixture' })
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="1200" height="600"/)
    // Counted the way `results` and `status` count: the baseline apart from the experiments.
    expect(svg).toContain('fixture: 1 baseline, 6 experiments, 2 kept')
    // baseline + 2 keeps as big dots, 2 in-range discards as small ones; the crash and the outlier as marks.
    expect(svg.match(/<circle [^>]*r="5.5"/g)).toHaveLength(3)
    expect(svg.match(/<circle [^>]*r="3.5"/g)).toHaveLength(2)
    expect(svg).toMatch(/<path d="M[\d.]+,[\d.]+ L[\d.]+,[\d.]+ M[^"]+" stroke="#e74c3c"[^>]*><title>#4 crash/)
    expect(svg).toMatch(/<path d="M[^"]+Z" fill="#c8c8c8"><title>#5 discard 9\.500000/)
    // The running best: three anchors, so two steps (H then V each) and a tail.
    expect(svg).toMatch(/<path d="M[\d.]+,[\d.]+ H[\d.]+ V[\d.]+ H[\d.]+ V[\d.]+ H[\d.]+" fill="none" stroke="#27ae60"/)
    expect(svg).toContain('LR &#60;0.02&#62; &#38; &#34;warmup&#34;')
    // Every kind of mark has its legend entry: the off-scale triangle and the crash cross too.
    expect(svg).toMatch(/<path class="legend-off-scale" d="M[^"]+Z" fill="#c8c8c8"\/>\n<text [^>]*>Off the scale, above \(1\)<\/text>/)
    expect(svg).toMatch(/<path class="legend-crash" [^>]*stroke="#e74c3c"[^>]*\/>\n<text [^>]*>Crashed, no figure \(1\)<\/text>/)
    expect(svg).not.toContain('<0.02>')
  })

  it('copes with nothing but a baseline, and picks round ticks', () => {
    const alone = renderProgressSvg([rec(1, 'baseline', 1.2, 'baseline')])
    expect(alone).toContain('1 baseline, 0 experiments, 0 kept')
    // No off-scale or crash marks, no legend entries for them.
    expect(alone).not.toMatch(/legend-off-scale|legend-crash/)
    expect(niceTicks(0.98, 1.31, 6)).toEqual([1, 1.1, 1.2, 1.3])
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10])
    expect(niceTicks(1, 1)).toEqual([1])
  })
})

describe('swarm-node plot', () => {
  it('writes the SVG from the results log when no node runs', async () => {
    const home = await tempDir('plot')
    await mkdir(join(home, 'runs', PROJECT), { recursive: true })
    await writeFile(join(home, 'runs', PROJECT, 'experiments.jsonl'), HISTORY.map(r => JSON.stringify(r)).join('\n') + '\n')
    const out = join(home, 'chart.svg')
    const res = await runCli(['--home', home, 'plot', '--out', out])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout.trim()).toBe(`wrote ${out}: project ${PROJECT.slice(0, 12)}, 1 baseline, 6 experiments, 2 kept`)
    expect(await readFile(out, 'utf8')).toContain(`project ${PROJECT.slice(0, 12)}: 1 baseline, 6 experiments, 2 kept`)
    const empty = await tempDir('plot-empty')
    await mkdir(join(empty, 'runs', PROJECT), { recursive: true })
    await writeFile(join(empty, 'runs', PROJECT, 'experiments.jsonl'), '')
    const none = await runCli(['--home', empty, '--json', 'plot', '--out', join(empty, 'x.svg'), '--project', PROJECT])
    expect(none.code).toBe(1)
    expect(none.json.error).toMatch(/nothing to plot/)
  })
})
