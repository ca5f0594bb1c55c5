import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findPython, parseProbeOutput, PythonNotFoundError, pythonCandidates, shellQuote, substitutePython } from '../trainer/python.ts'

const SYSTEM_PYTHON = '/usr/bin/python3'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'py-test-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function script (name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

describe('findPython', () => {
  it('finds the system python with torch', async () => {
    const py = await findPython({ env: { ...process.env, SWARM_PYTHON: '' } })
    expect(py.path).toBe(SYSTEM_PYTHON)
    expect(py.torch).toMatch(/^\d+\.\d+/)
    expect(typeof py.cuda).toBe('boolean')
  })

  it('falls through a preferred path that does not exist', async () => {
    const py = await findPython({ preferred: join(dir, 'no-such-python'), candidates: [SYSTEM_PYTHON] })
    expect(py.path).toBe(SYSTEM_PYTHON)
  })

  it('tries SWARM_PYTHON before the built-in list', async () => {
    const fake = await script('fake-python', 'echo "9.9.9+fake True"')
    const py = await findPython({ env: { ...process.env, SWARM_PYTHON: fake }, candidates: [SYSTEM_PYTHON] })
    expect(py).toEqual({ path: fake, torch: '9.9.9+fake', cuda: true })
  })

  it('throws a clear error naming every candidate and the fix', async () => {
    const noTorch = await script('no-torch', 'echo "ModuleNotFoundError: No module named \'torch\'" >&2; exit 1')
    const garbled = await script('garbled', 'echo hello')
    const slow = await script('slow', 'exec sleep 30')
    const missing = join(dir, 'missing-python')
    const t0 = Date.now()
    const err = await findPython({ preferred: missing, env: { PATH: '/usr/bin:/bin' }, candidates: [noTorch, garbled, slow], timeoutMs: 500 })
      .then(() => null, (e: unknown) => e)
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(err).toBeInstanceOf(PythonNotFoundError)
    const e = err as PythonNotFoundError
    expect(e.attempts.map(a => a.candidate)).toEqual([missing, noTorch, garbled, slow])
    expect(e.message).toContain(`${missing}: not found`)
    expect(e.message).toContain("No module named 'torch'")
    expect(e.message).toContain('unexpected output: hello')
    expect(e.message).toContain(`${slow}: timed out`)
    expect(e.message).toContain('apt-get install python3-torch libopenblas0-pthread')
    expect(e.message).toContain('SWARM_PYTHON')
  })

  it('caches a success per candidate list', async () => {
    const counter = join(dir, 'count')
    const fake = await script('counting-python', `echo x >> '${counter}'; echo "1.0 False"`)
    const a = await findPython({ candidates: [fake], env: { PATH: '/usr/bin:/bin' } })
    const b = await findPython({ candidates: [fake], env: { PATH: '/usr/bin:/bin' } })
    expect(b).toEqual(a)
    expect(execFileSync('wc', ['-l', counter]).toString().trim().split(/\s+/)[0]).toBe('1')
  })
})

describe('pure helpers', () => {
  it('orders and de-duplicates candidates', () => {
    expect(pythonCandidates({ preferred: '/usr/bin/python3', env: { SWARM_PYTHON: ' /opt/py ' } }))
      .toEqual(['/usr/bin/python3', '/opt/py', 'python3', 'python'])
    expect(pythonCandidates({ preferred: null, env: {}, candidates: ['a'] })).toEqual(['a'])
  })

  it('parses the probe output', () => {
    expect(parseProbeOutput('2.3.1+cu121 True\n')).toEqual({ torch: '2.3.1+cu121', cuda: true })
    expect(parseProbeOutput('warning: x\n1.13.0a0 False\n')).toEqual({ torch: '1.13.0a0', cuda: false })
    expect(parseProbeOutput('nonsense')).toBeNull()
  })

  it('substitutes {python}, quoting only when needed', () => {
    expect(substitutePython('{python} train.py', '/usr/bin/python3')).toBe('/usr/bin/python3 train.py')
    expect(substitutePython('{python} prepare.py && {python} train.py', 'py')).toBe('py prepare.py && py train.py')
    expect(substitutePython('uv run train.py', '/usr/bin/python3')).toBe('uv run train.py')
    expect(substitutePython('{python} t.py', "/opt/my env/it's/python")).toBe(`'/opt/my env/it'\\''s/python' t.py`)
    expect(shellQuote('')).toBe("''")
  })

  it('quoted paths survive a real shell', () => {
    const weird = "a b'c$d"
    const out = execFileSync('/bin/sh', ['-c', substitutePython('printf %s {python}', weird)]).toString()
    expect(out).toBe(weird)
  })
})
