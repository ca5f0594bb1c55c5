import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ManifestError, isOutput, parseManifest, withBudget } from '../trainer/manifest.ts'
import { listFixedFiles, loadProject } from '../trainer/project.ts'

const good = { name: 'p', run: 'python3 train.py' }

describe('parseManifest', () => {
  it('fills the defaults', () => {
    const m = parseManifest(good)
    expect(m.editable).toEqual(['train.py'])
    expect(m.budget_s).toBe(300)
    expect(m.timeout_s).toBeGreaterThan(300)
    expect(m.metric).toBe('val_bpb')
    expect(m.outputs).toContain('run.log')
    expect(m.onnx).toBeNull()
  })

  const bad: Array<[string, unknown, string]> = [
    ['not an object', [], '(root)'],
    ['missing run', { name: 'p' }, 'run'],
    ['unknown field', { ...good, bugdet_s: 3 }, 'bugdet_s'],
    ['bad name', { ...good, name: '../x' }, 'name'],
    ['editable outside', { ...good, editable: ['../train.py'] }, 'editable[0]'],
    ['editable absolute', { ...good, editable: ['/etc/passwd'] }, 'editable[0]'],
    ['editable in .git', { ...good, editable: ['.git/config'] }, 'editable[0]'],
    ['editable twice', { ...good, editable: ['a.py', 'a.py'] }, 'editable'],
    ['manifest editable', { ...good, editable: ['swarm.json'] }, 'editable'],
    ['budget zero', { ...good, budget_s: 0 }, 'budget_s'],
    ['budget string', { ...good, budget_s: '60' }, 'budget_s'],
    ['timeout below budget', { ...good, budget_s: 60, timeout_s: 30 }, 'timeout_s'],
    ['metric with spaces', { ...good, metric: 'val bpb' }, 'metric'],
    ['output covers editable', { ...good, outputs: ['train.py'] }, 'outputs'],
    ['onnx missing field', { ...good, onnx: { model: 'm.onnx' } }, 'onnx.tokens'],
    ['onnx bad context', { ...good, onnx: { model: 'm', tokens: 't', token_bytes: 'b', context: 0, vocab: 256 } }, 'context'],
    ['noise margin negative', { ...good, noise_margin: -1 }, 'noise_margin']
  ]
  for (const [what, raw, field] of bad) {
    it(`rejects ${what}`, () => {
      let err: unknown
      try { parseManifest(raw) } catch (e) { err = e }
      expect(err).toBeInstanceOf(ManifestError)
      expect((err as ManifestError).field).toBe(field)
    })
  }

  it('--budget replaces the budget and stretches the timeout', () => {
    const m = parseManifest({ ...good, budget_s: 60, timeout_s: 200 })
    expect(withBudget(m, 600)).toMatchObject({ budget_s: 600, timeout_s: 1020 })
    expect(withBudget(m, 5)).toMatchObject({ budget_s: 5, timeout_s: 200 })
    expect(() => withBudget(m, 0)).toThrow(ManifestError)
  })

  it('knows outputs', () => {
    const m = parseManifest({ ...good, outputs: ['data/'] })
    expect(isOutput(m, 'data/train.bin')).toBe(true)
    expect(isOutput(m, 'run.log')).toBe(true)
    expect(isOutput(m, 'prepare.py')).toBe(false)
  })
})

describe('loadProject', () => {
  const dirs: string[] = []
  afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

  async function project (files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-project-'))
    dirs.push(dir)
    for (const [p, text] of Object.entries(files)) {
      await mkdir(join(dir, p, '..'), { recursive: true })
      await writeFile(join(dir, p), text)
    }
    return dir
  }
  const base = { 'swarm.json': JSON.stringify({ ...good, outputs: ['data/'] }), 'train.py': 'x = 1\n', 'prepare.py': 'y = 2\n', 'data/a.bin': 'zz', 'run.log': 'log', '.venv/lib/x.py': 'v' }

  it('hashes fixed files only; editable and output changes keep the id', async () => {
    const a = await loadProject(await project(base))
    expect(a.fixedFiles.map(f => f.path)).toEqual(['prepare.py'])
    const b = await loadProject(await project({ ...base, 'train.py': 'x = 2\n', 'data/a.bin': 'other', 'run.log': 'other' }))
    expect(b.id).toBe(a.id)
    const c = await loadProject(await project({ ...base, 'prepare.py': 'y = 3\n' }))
    expect(c.id).not.toBe(a.id)
    const d = await loadProject(await project(base), { budgetS: 10 })
    expect(d.id).not.toBe(a.id)
    expect(a.id).toMatch(/^[0-9a-f]{64}$/)
  })

  it('explains a missing manifest and a missing editable file', async () => {
    await expect(loadProject(await project({ 'train.py': '' }))).rejects.toThrow(/no swarm.json.*swarm-node init/)
    await expect(loadProject(await project({ 'swarm.json': JSON.stringify(good) }))).rejects.toThrow(/train.py does not exist/)
    await expect(loadProject(await project({ 'swarm.json': '{oops', 'train.py': '' }))).rejects.toThrow(/not valid JSON/)
  })

  it('says where swarm.json stops being JSON: line, column, what was expected, the line with a caret', async () => {
    const missingComma = '{\n  "name": "x",\n  "run": "python train.py"\n  "budget_s": 30\n}\n'
    const err = await loadProject(await project({ 'swarm.json': missingComma, 'train.py': '' })).then(() => new Error('loaded'), (e: Error) => e)
    expect(err.message).toMatch(/swarm\.json is not valid JSON: line 4, column 3: expected , or } after the value: is a comma missing before this key\?\n  "budget_s": 30\n  \^$/)
    expect(err.message).not.toMatch(/position/)
    const cases: Array<[string, RegExp]> = [
      ['{"name": "x",}', /line 1, column 14: a trailing comma is not allowed in JSON/],
      ["{\n  'name': 'x'\n}", /line 2, column 3: expected a "key" in double quotes, found "'"/],
      ['{"name": "x", "run": "a\nb"}', /line 1, column 24: a string may not hold a raw line break/],
      ['\ufeff{}', /line 1, column 1: the file starts with a byte order mark/],
      ['{"name": "x"', /line 1, column 13: expected , or } after the value, found the end of the file/],
      ['', /line 1, column 1: expected a value, found the end of the file/]
    ]
    for (const [text, want] of cases) {
      const e = await loadProject(await project({ 'swarm.json': text, 'train.py': '' })).then(() => new Error('loaded'), (x: Error) => x)
      expect(e.message, JSON.stringify(text)).toMatch(want)
    }
  })

  it('lists files in a stable order', async () => {
    const dir = await project({ ...base, 'b/z.py': '1', 'a.py': '2', 'b/a.py': '3' })
    const m = parseManifest({ ...good, outputs: ['data/'] })
    expect((await listFixedFiles(dir, m)).map(f => f.path)).toEqual(['a.py', 'b/a.py', 'b/z.py', 'prepare.py'])
  })
})
