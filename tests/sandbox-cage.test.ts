/**
 * The cage itself, with real bubblewrap and no node process around it: a run
 * of a project that lives, as the default one does, inside the node's home.
 * What the run sees and may write, from inside; and that the runner returns
 * only once everything the run started is gone.
 */
import { existsSync } from 'node:fs'
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseManifest } from '../trainer/manifest.ts'
import { pythonRoots } from '../trainer/python.ts'
import { runCommand } from '../trainer/runner.ts'
import { ProjectSandbox, Sandbox } from '../trainer/sandbox/index.ts'
import { FIXTURES, cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { leftovers } from './helpers/hostile-cases.ts'

let home = ''
let dir = ''
let cage: ProjectSandbox
afterAll(cleanupFixtures)

beforeAll(async () => {
  home = join(await tempDir('cage'), 'node-home')
  dir = join(home, 'project')
  await mkdir(home, { recursive: true })
  await writeFile(join(home, 'identity.key'), 'secret identity')
  await cp(join(FIXTURES, 'caged'), dir, { recursive: true })
  await mkdir(join(dir, 'data'))
  await writeFile(join(dir, 'data', 'scale.txt'), '1.0\n')
  await writeFile(join(dir, 'run.log'), '')
  const manifest = parseManifest({ ...JSON.parse(await readFile(join(dir, 'swarm.json'), 'utf8')), outputs: ['data/', 'model.onnx'] })
  const sandbox = await Sandbox.open({ home })
  expect(sandbox.confined, 'bubblewrap must work here (scripts/setup installs it)').toBe(true)
  cage = new ProjectSandbox(sandbox, { dir, manifest, python: await pythonRoots('python3', dir) })
})

/** Runs a shell script in the run profile; its output. */
async function inside (script: string, timeoutS = 20): Promise<string> {
  const log = join(home, 'cage.log')
  const out = await runCommand({ command: script, cwd: dir, timeoutS, logPath: log, launch: await cage.launch({ profile: 'run', command: script, cwd: dir, env: { SWARM_TIME_BUDGET: '2' } }) })
  expect(out.timedOut).toBe(false)
  return await readFile(log, 'utf8')
}

describe('a run in the cage', () => {
  it('sees the workspace but nothing else of the node home, an empty $HOME, its own processes only', async () => {
    const out = await inside('ls -a ..; echo "home: $(ls -A "$HOME" | grep -v -e .pyenv -e .cargo -e .local | tr "\\n" " ")"; cat ../identity.key 2>&1; echo "procs: $(ls /proc | grep -c "^[0-9]")"; echo "env: $(env | cut -d= -f1 | sort | tr "\\n" " ")"')
    expect(out).toMatch(/^\.\n\.\.\nproject\n/)
    expect(out).toMatch(/^home: $/m)
    expect(out).toMatch(/identity\.key: No such file or directory/)
    expect(Number(/procs: (\d+)/.exec(out)?.[1])).toBeLessThan(10)
    expect(out).not.toMatch(/SWARM_NODE|_KEY|TOKEN/)
  })

  it('writes only its declared output: the model, not the code, the data, the logs, git, or a new file', async () => {
    const out = await inside([
      'echo model > model.onnx && echo wrote model.onnx',
      ...['train.py', 'prepare.py', 'swarm.json', 'data/scale.txt', 'run.log', '.git-nope', 'new.py'].map(f => `(echo x >> ${f}) 2>&1 | sed 's/^/refused: /'`),
      'mkdir -p /tmp/x && echo private tmp ok',
      // The node home's folder is a private skeleton in here: writable or not, nothing lands on the host.
      'echo x > ../beside 2>/dev/null; (echo x > /beside) 2>&1 | sed "s/^/refused: /"'
    ].join('; '))
    expect(out).toContain('wrote model.onnx')
    expect(out.match(/refused: .*Read-only file system/g)?.length, out).toBe(8)
    expect(existsSync(join(home, 'beside'))).toBe(false)
    expect(out).toContain('private tmp ok')
    expect(await readFile(join(dir, 'model.onnx'), 'utf8')).toBe('model\n')
    expect(await readFile(join(dir, 'data', 'scale.txt'), 'utf8')).toBe('1.0\n')
  })

  it('has no network: a listener on the host\'s loopback is out of reach', async () => {
    let heard = 0
    const server = createServer(s => { heard++; s.destroy() })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      const out = await inside(`python3 -c "import socket; socket.create_connection(('127.0.0.1', ${port}), timeout=2)" 2>&1 | tail -1; ls /sys/class/net 2>&1 | head -1`)
      expect(out).toMatch(/ConnectionRefusedError|unreachable/)
      expect(heard).toBe(0)
    } finally {
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  })

  it('holds the project\'s limits: file size, memory, processes', async () => {
    const out = await inside('ulimit -f; ulimit -d; python3 -c "bytearray(1024**3)" 2>&1 | tail -1; head -c 80000000 /dev/zero > model.onnx; echo "wrote $(stat -c %s model.onnx)"')
    const [fsize, data] = out.split('\n')
    expect(Number(fsize) * 512).toBe(64 * 1024 ** 2)
    expect(Number(data) * 1024).toBe(256 * 1024 ** 2)
    expect(out).toMatch(/MemoryError/)
    expect(out).toMatch(/wrote 67108864/)
    expect(cage.status().limitsLine).toMatch(/64 processes/)
  })

  it('lets prepare alone write data kept outside the project (sandbox.data); runs only read it', async () => {
    const ext = join(await tempDir('cage-data'), 'autoresearch-cache')
    const manifest = parseManifest({ name: 'ext', run: 'true', outputs: ['data/'], sandbox: { data: [ext] } })
    const project = new ProjectSandbox(cage.sandbox, { dir, manifest, python: null })
    const log = join(home, 'ext.log')
    const go = async (profile: 'prepare' | 'run', script: string): Promise<string> => {
      await runCommand({ command: script, cwd: dir, timeoutS: 20, logPath: log, launch: await project.launch({ profile, command: script, cwd: dir }) })
      return await readFile(log, 'utf8')
    }
    expect(await go('prepare', `echo tokens > ${ext}/val.bin && echo written`)).toBe('written\n')
    expect(await go('run', `cat ${ext}/val.bin; (echo poison > ${ext}/val.bin) 2>&1`)).toMatch(/^tokens\n.*Read-only file system/)
    expect(await readFile(join(ext, 'val.bin'), 'utf8')).toBe('tokens\n')
  })

  it('returns only when everything the run started is gone, setsid children included', async () => {
    const mark = `77.${process.pid}${Date.now() % 100000}`
    await inside(`setsid sleep ${mark} & (sleep ${mark} &) ; echo started`)
    expect(await leftovers(mark)).toEqual([])
  })
})
