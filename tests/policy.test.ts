/**
 * The early refusal: what the policy reads in a candidate's added lines, what
 * it lets through (moved code, torch.compile, re.compile), how a project
 * configures it, and who is asked at all (admission.ts).
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { refusal } from '../trainer/admission.ts'
import { ManifestError, parseManifest, runDeadlineS, withBudget, type PolicySpec } from '../trainer/manifest.ts'
import { checkMeasurementData, captureMeasurementData, MeasurementDataError } from '../trainer/measure-data.ts'
import { overBudget } from '../trainer/measure.ts'
import { checkPolicy, importsOf, policyReason, stripComment } from '../trainer/policy.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

const on: PolicySpec = { enabled: true, allow: [], deny_imports: [] }
const BASE = 'import math\nimport torch\nLR = 0.01\nmodel = torch.compile(model)\n'
const added = (lines: string): Record<string, string> => ({ 'train.py': `${BASE}${lines}\n` })
const rules = (lines: string, spec: PolicySpec = on): string[] => checkPolicy({ 'train.py': BASE }, added(lines), spec).map(f => `${f.rule}: ${f.what}`)

describe('checkPolicy', () => {
  it.each([
    ['import socket', 'network: imports socket'],
    ['from urllib.request import urlopen', 'network: imports urllib.request'],
    ['import os, requests as r', 'network: imports requests'],
    ['import subprocess', 'process: imports subprocess'],
    ['os.system("cat ~/.ssh/id_rsa > ../../stolen")', 'process: calls os.system'],
    ['os . popen("id")', 'process: calls os.popen'],
    ['pid = os.fork()', 'process: calls os.fork'],
    ['import ctypes', 'native-code: imports ctypes'],
    ['from torch.utils.cpp_extension import load_inline', 'native-code: imports torch.utils.cpp_extension'],
    ['eval(open("x").read())', 'dynamic-code: calls eval()'],
    ['exec(code)', 'dynamic-code: calls exec()'],
    ['m = __import__("so" + "cket")', 'dynamic-code: calls __import__()'],
    ['f = getattr(os, "sys" + "tem")', 'dynamic-code: looks up names on os by string'],
    ['open("/etc/cron.d/x", "w")', 'outside-paths: names the path /etc/cron.d/x'],
    ['p = os.path.expanduser("~")', 'outside-paths: reaches outside the workspace (expanduser)'],
    ['open("../../stolen", "w")', 'outside-paths: names the path ../../stolen']
  ])('refuses %s', (line, finding) => {
    expect(rules(line)).toContain(finding)
  })

  it('lets honest edits through: constants, torch.compile, re.compile, model.eval(), comments, moved lines', () => {
    expect(rules('LR = 0.02\nimport re\npat = re.compile("x")\nmodel.eval()\n# os.system("x") in a comment\nx = "a # not a comment"')).toEqual([])
    const moved = checkPolicy({ 'train.py': 'import os\nx = 1\n' }, { 'train.py': 'x = 1\nimport os\n' }, on)
    expect(moved).toEqual([])
  })

  it('is configured per project: rules allowed, imports denied, or off', () => {
    expect(rules('import subprocess', { ...on, allow: ['process'] })).toEqual([])
    expect(rules('import numba', { ...on, deny_imports: ['numba'] })).toEqual(['deny_imports: imports numba'])
    expect(rules('import socket', { enabled: false, allow: [], deny_imports: [] })).toEqual([])
  })

  it('explains itself in one line with file:line', () => {
    const f = checkPolicy({ 'train.py': BASE }, added('import socket\nos.system("x")'), on)
    expect(policyReason(f)).toBe('refused by the project\'s policy before running: train.py:5 imports socket (network); train.py:6 calls os.system (process). ' +
      'Allow a rule with "policy": {"allow": [...]} in swarm.json if the project needs it.')
  })

  it('reads imports and comments as Python would, near enough', () => {
    expect(importsOf('import a.b as c, d')).toEqual(['a.b', 'd'])
    expect(importsOf('from . import x')).toEqual(['.'])
    expect(stripComment('s = "#x"  # y')).toBe('s = "#x"  ')
  })
})

describe('refusal (admission)', () => {
  const base = { baseline: { 'train.py': BASE }, candidate: added('import socket'), policy: on }
  const caged = { confined: true, foreignAllowed: true }
  const bare = { confined: false, foreignAllowed: false }
  it('never stops the node\'s own mutations', () => {
    expect(refusal({ ...base, proposer: 'mutation', adopted: false, sandbox: bare })).toBeNull()
  })
  it('stops foreign code without a sandbox, saying how to allow it', () => {
    expect(refusal({ ...base, candidate: added('LR = 0.02'), proposer: 'llm:x', adopted: false, sandbox: bare })).toMatch(/no sandbox here.*--unsafe-no-sandbox/)
    expect(refusal({ ...base, candidate: added('LR = 0.02'), proposer: 'adopt', adopted: true, sandbox: bare })).toMatch(/^not run: a peer's result/)
    expect(refusal({ ...base, candidate: added('LR = 0.02'), proposer: 'adopt', adopted: true, sandbox: { confined: false, foreignAllowed: true } })).toBeNull()
  })
  it('asks the policy about foreign code in the sandbox', () => {
    expect(refusal({ ...base, proposer: 'agent:claude', adopted: false, sandbox: caged })).toMatch(/imports socket \(network\)/)
    expect(refusal({ ...base, candidate: added('LR = 0.02'), proposer: 'llm:x', adopted: false, sandbox: caged })).toBeNull()
  })
})

describe('manifest: sandbox, policy, grace', () => {
  const good = { name: 'p', run: 'python3 train.py', outputs: ['data/', 'ckpt/'] }
  it('fills the defaults', () => {
    const m = parseManifest(good)
    expect(m.sandbox).toEqual({ memory_mb: null, processes: 1024, file_size_mb: 16384, read_only: [], data: [], writable: [], env: [] })
    expect(m.policy).toEqual({ enabled: true, allow: [], deny_imports: [] })
    expect(m.grace_s).toBeNull()
    expect(runDeadlineS(m)).toBe(m.timeout_s)
  })
  it('reads them', () => {
    const m = parseManifest({ ...good, budget_s: 60, grace_s: 30, timeout_s: 200, sandbox: { memory_mb: 512, read_only: ['~/.local/share/uv'], data: ['/srv/data'], writable: ['ckpt'], env: ['UV_CACHE_DIR'] }, policy: { allow: ['process'], deny_imports: ['numba'] } })
    expect(m.sandbox).toMatchObject({ memory_mb: 512, read_only: ['~/.local/share/uv'], data: ['/srv/data'], writable: ['ckpt/'], env: ['UV_CACHE_DIR'] })
    expect(m.policy).toEqual({ enabled: true, allow: ['process'], deny_imports: ['numba'] })
    expect(runDeadlineS(m)).toBe(90)
    // --budget keeps a declared grace tight.
    expect(runDeadlineS(withBudget(m, 600))).toBe(630)
    expect(parseManifest({ ...good, policy: false }).policy.enabled).toBe(false)
  })
  it.each([
    [{ sandbox: { env: ['OPENAI_API_KEY'] } }, 'sandbox.env[0]', /looks like a secret/],
    [{ sandbox: { writable: ['src/'] } }, 'sandbox.writable[0]', /must be an output folder/],
    [{ sandbox: { read_only: ['relative/path'] } }, 'sandbox.read_only[0]', /absolute or start with ~\//],
    [{ sandbox: { read_only: ['~/../etc'] } }, 'sandbox.read_only[0]', /no "\.\."/],
    [{ sandbox: { memory_mb: 1 } }, 'sandbox.memory_mb', /between 64/],
    [{ sandbox: { nproc: 3 } }, 'sandbox.nproc', /unknown field/],
    [{ policy: { allow: ['everything'] } }, 'policy.allow[0]', /must be one of network, process/],
    [{ policy: 'on' }, 'policy', /true, false or an object/],
    [{ budget_s: 60, timeout_s: 80, grace_s: 30 }, 'grace_s', /must not exceed timeout_s/]
  ])('rejects %j', (extra, field, message) => {
    let err: unknown
    try { parseManifest({ ...good, ...extra }) } catch (e) { err = e }
    expect(err).toBeInstanceOf(ManifestError)
    expect((err as ManifestError).field).toBe(field)
    expect((err as Error).message).toMatch(message)
  })
})

describe('measurements the run cannot touch', () => {
  it('a summary that trained past the budget is not believed', () => {
    expect(overBudget({ training_seconds: 300.4 }, 300)).toBeNull()
    expect(overBudget({ training_seconds: 14 }, 5)).toBe('training_seconds 14 exceeds the 5 s budget: the run set its own budget')
    expect(overBudget({}, 5)).toBeNull()
  })

  it('the node\'s copy of the validation data is hashed, and any change to it is caught', async () => {
    const project = await tempDir('measure-data')
    await writeFile(join(project, 'val.bin'), Buffer.from([1, 2, 3]))
    await writeFile(join(project, 'tb.bin'), Buffer.alloc(256, 1))
    const d = await captureMeasurementData(project, { model: 'm.onnx', tokens: 'val.bin', token_bytes: 'tb.bin', context: 2, vocab: 256 }, join(await tempDir('home'), 'measure'))
    await checkMeasurementData(d)
    await writeFile(d.tokenBytes, Buffer.alloc(256, 0)).catch(async () => {
      // The copy is read-only; a tamperer with the rights to change it still gets caught.
      const { chmod } = await import('node:fs/promises')
      await chmod(d.tokenBytes, 0o644)
      await writeFile(d.tokenBytes, Buffer.alloc(256, 0))
    })
    await expect(checkMeasurementData(d)).rejects.toThrow(MeasurementDataError)
    await expect(checkMeasurementData(d)).rejects.toThrow(/token_bytes\.bin changed/)
    await expect(captureMeasurementData(project, { model: 'm', tokens: 'missing.bin', token_bytes: 'tb.bin', context: 2, vocab: 256 }, join(project, 'm'))).rejects.toThrow(/missing after prepare/)
  })
})
