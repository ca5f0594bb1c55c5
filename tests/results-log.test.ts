import { spawn } from 'node:child_process'
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ResultsLog, TSV_HEADER } from '../trainer/results-log.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const moduleUrl = new URL('../trainer/results-log.ts', import.meta.url).href

let dir: string
let tsvPath: string
let jsonlPath: string

function record (seq: number, extra: Partial<ExperimentRecord> = {}): ExperimentRecord {
  return {
    id: `run-${seq}`,
    seq,
    commit: `${seq.toString(16).padStart(7, '0')}abcdef0123456789abcdef0123456789a`.slice(0, 40),
    parent: 'f'.repeat(40),
    status: 'keep',
    val_bpb: 1 + seq / 1000,
    verified_bpb: 1 + seq / 1000,
    memory_gb: 44.0,
    description: `experiment ${seq}`,
    reason: 'improved',
    proposer: 'mutation',
    metrics: { steps: 100 + seq, mfu: 'n/a' },
    track: 'cpu',
    started_at: 1_700_000_000_000 + seq,
    finished_at: 1_700_000_100_000 + seq,
    ...extra
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-log-'))
  tsvPath = join(dir, 'project', 'results.tsv')
  jsonlPath = join(dir, 'home', 'runs', 'p1', 'experiments.jsonl')
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('ResultsLog', () => {
  it('round-trips records, extra fields included, creating parent directories', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    expect(await log.readAll()).toEqual([])
    const a = record(1, { origin: { result: 'a'.repeat(64), author: '12D3KooW', claimed: 1.1, track: 'cpu' }, branch: 'swarm/t' })
    const b = record(2, { status: 'discard', val_bpb: null, verified_bpb: null })
    await log.append(a)
    await log.append(b)
    expect(await log.readAll()).toEqual([a, b])
    expect(log.warnings).toEqual([])
    const lines = (await readFile(jsonlPath, 'utf8')).split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[2]).toBe('')
  })

  it('writes results.tsv exactly in autoresearch\'s format: the baseline is its first keep, header once', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    await log.append(record(1, { commit: 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2', val_bpb: 0.997900, memory_gb: 44.04, status: 'baseline', description: 'baseline' }))
    await log.append(record(2, { commit: 'b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3', val_bpb: 0.9932, memory_gb: 44.2, status: 'keep', description: 'increase LR\tto 0.04\nand warmup' }))
    await log.append(record(3, { commit: 'c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4', val_bpb: 1.005, memory_gb: 44.0, status: 'discard', description: 'switch to GeLU activation' }))
    await log.append(record(4, { commit: 'd4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5', val_bpb: null, memory_gb: 0, status: 'crash', description: 'double model width (OOM)' }))
    await log.append(record(5, { commit: 'e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6', val_bpb: 1.2, memory_gb: 3.5, status: 'crash', description: 'diverged' }))
    await log.append(record(6, { commit: 'f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1', val_bpb: 0.5, memory_gb: 44.1, status: 'invalid', description: 'peek ahead', reason: 'non-causal model' }))
    const text = await readFile(tsvPath, 'utf8')
    // autoresearch's program.md example, row for row where the experiments are the same.
    expect(text).toBe([
      'commit\tval_bpb\tmemory_gb\tstatus\tdescription',
      'a1b2c3d\t0.997900\t44.0\tkeep\tbaseline',
      'b2c3d4e\t0.993200\t44.2\tkeep\tincrease LR to 0.04 and warmup',
      'c3d4e5f\t1.005000\t44.0\tdiscard\tswitch to GeLU activation',
      'd4e5f6a\t0.000000\t0.0\tcrash\tdouble model width (OOM)',
      'e5f6a1b\t0.000000\t0.0\tcrash\tdiverged',
      'f6a1b2c\t0.000000\t0.0\tcrash\tpeek ahead (invalid: non-causal model)',
      ''
    ].join('\n'))
    // Every row has autoresearch's five columns and one of its three statuses.
    for (const row of text.trim().split('\n').slice(1)) {
      const cols = row.split('\t')
      expect(cols).toHaveLength(5)
      expect(cols[0]).toMatch(/^[0-9a-f]{7}$/)
      expect(cols[1]).toMatch(/^\d+\.\d{6}$/)
      expect(cols[2]).toMatch(/^\d+\.\d$/)
      expect(['keep', 'discard', 'crash']).toContain(cols[3])
    }
    expect(TSV_HEADER).toBe('commit\tval_bpb\tmemory_gb\tstatus\tdescription')
  })

  it('skips a torn last line and starts the next append on a fresh line', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    await log.append(record(1))
    const half = JSON.stringify(record(2)).slice(0, 40)
    await appendFile(jsonlPath, half)
    await appendFile(tsvPath, 'deadbee\t0.99')

    expect(await log.readAll()).toEqual([record(1)])
    expect(log.warnings).toHaveLength(1)
    expect(log.warnings[0]).toMatch(/incomplete last line/)

    await log.append(record(3))
    const lines = (await readFile(jsonlPath, 'utf8')).split('\n')
    expect(lines[1]).toBe(half)
    expect(JSON.parse(lines[2]!)).toEqual(record(3))
    expect((await readFile(tsvPath, 'utf8')).split('\n').at(-2)).toMatch(/^0000003\t/)

    // The fragment is now a corrupt middle line: reported, never fatal.
    const seen: string[] = []
    const reader = new ResultsLog({ tsvPath, jsonlPath, onWarning: w => seen.push(w) })
    expect(await reader.readAll()).toEqual([record(1), record(3)])
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatch(/corrupt line 2/)
  })

  it('keeps a complete record that only lacks its newline', async () => {
    await mkdir(dirname(jsonlPath), { recursive: true })
    await writeFile(jsonlPath, JSON.stringify(record(1)))
    const log = new ResultsLog({ tsvPath, jsonlPath })
    expect(await log.readAll()).toEqual([record(1)])
    await log.append(record(2))
    expect(await log.readAll()).toEqual([record(1), record(2)])
    expect(log.warnings).toEqual([])
  })

  it('skips corrupt and non-record lines in the middle with warnings', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    await log.append(record(1))
    await appendFile(jsonlPath, '{not json\n[1,2]\n{"seq":5}\n\n')
    await log.append(record(2))
    expect(await log.readAll()).toEqual([record(1), record(2)])
    expect(log.warnings).toHaveLength(3)
  })

  it('deduplicates by id: last content wins, first position stays', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    await log.append(record(1))
    await log.append(record(2))
    await log.append(record(1, { status: 'discard', reason: 'replayed' }))
    const all = await log.readAll()
    expect(all.map(r => r.id)).toEqual(['run-1', 'run-2'])
    expect(all[0]!.status).toBe('discard')
    expect(all[0]!.reason).toBe('replayed')
  })

  it('serialises concurrent appends into whole lines', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    const big = 'x'.repeat(200_000)
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(record(i, { description: i % 2 === 0 ? big : `small ${i}` }))))
    const all = await log.readAll()
    expect(log.warnings).toEqual([])
    expect(all.map(r => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i))
    const tsv = (await readFile(tsvPath, 'utf8')).split('\n')
    expect(tsv[0]).toBe(TSV_HEADER)
    expect(tsv).toHaveLength(42)
  })

  it('rejects a record without an id', async () => {
    const log = new ResultsLog({ tsvPath, jsonlPath })
    await expect(log.append(record(1, { id: '' }))).rejects.toThrow(/non-empty string id/)
  })

  it('survives SIGKILL of a writer process: every completed record is readable', async () => {
    const script = join(dir, 'writer.mts')
    await writeFile(script, `
import { ResultsLog } from ${JSON.stringify(moduleUrl)}
const log = new ResultsLog({ tsvPath: process.argv[2], jsonlPath: process.argv[3] })
const pad = 'p'.repeat(50_000)
for (let seq = 0; ; seq++) {
  await log.append({ id: 'k-' + seq, seq, commit: 'c'.repeat(40), parent: 'b'.repeat(40), status: 'discard',
    val_bpb: 1, verified_bpb: null, memory_gb: 0, description: 'loop ' + seq, reason: '', proposer: 'test',
    metrics: {}, track: 'cpu', started_at: 0, finished_at: 0, pad })
  process.stdout.write('ok ' + seq + '\\n')
}
`)
    const child = spawn(process.execPath, ['--import', 'tsx', script, tsvPath, jsonlPath], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    let lastOk = -1
    const exited = new Promise<NodeJS.Signals | null>(res => child.on('exit', (_code, signal) => res(signal)))
    await new Promise<void>((res, rej) => {
      let buf = ''
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString()
        const m = [...buf.matchAll(/ok (\d+)\n/g)]
        if (m.length > 0) lastOk = Number(m.at(-1)![1])
        if (lastOk >= 25) res()
      })
      child.on('exit', () => rej(new Error(`writer exited early: ${stderr}`)))
    })
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')

    const log = new ResultsLog({ tsvPath, jsonlPath })
    const all = await log.readAll()
    const seqs = all.map(r => r.seq)
    // Everything acknowledged is there, in order, with no gaps; only the record in flight may be missing.
    expect(seqs.length).toBeGreaterThanOrEqual(lastOk + 1)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i))
    expect(log.warnings.length).toBeLessThanOrEqual(1)

    // And the log keeps working afterwards.
    await log.append(record(9999))
    const after = await log.readAll()
    expect(after.at(-1)!.id).toBe('run-9999')
    expect(after).toHaveLength(all.length + 1)
  })
})
