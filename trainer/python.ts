/**
 * Finds a Python interpreter that can import torch. Debian's packaged torch is
 * visible only to /usr/bin/python3, while the `python3` first on PATH is often a
 * pyenv or venv build without it, so candidates are probed in a fixed order and
 * the first that actually imports torch wins.
 */
import { execFile } from 'node:child_process'

export interface PythonInfo { path: string; torch: string; cuda: boolean }

export interface FindPythonOptions {
  /** an interpreter path or command name the manifest names; tried first */
  preferred?: string | null
  /** environment for SWARM_PYTHON and for running the probes; default process.env */
  env?: NodeJS.ProcessEnv
  /** replaces the built-in candidate list (after preferred and SWARM_PYTHON) */
  candidates?: string[]
  /** per-candidate probe limit, default 30 s */
  timeoutMs?: number
}

export interface ProbeAttempt { candidate: string; problem: string }

export class PythonNotFoundError extends Error {
  override name = 'PythonNotFoundError'
  constructor (readonly attempts: ProbeAttempt[]) {
    super([
      'no Python with torch found. Tried:',
      ...attempts.map(a => `  ${a.candidate}: ${a.problem}`),
      'Fix: install torch for the system Python (Debian/Ubuntu: `apt-get install python3-torch libopenblas0-pthread`),',
      'or set SWARM_PYTHON to an interpreter that can `import torch`.'
    ].join('\n'))
  }
}

export const DEFAULT_CANDIDATES: readonly string[] = ['/usr/bin/python3', 'python3', 'python']
const DEFAULT_TIMEOUT_MS = 30_000
const PROBE = 'import torch; print(torch.__version__, torch.cuda.is_available())'
const MAX_PROBLEM_CHARS = 200

type ProbeResult = { ok: true, info: PythonInfo } | { ok: false, problem: string }

/** Reads the probe's last output line: `<torch version> <True|False>`. */
export function parseProbeOutput (stdout: string): { torch: string, cuda: boolean } | null {
  const lines = stdout.trim().split(/\r?\n/)
  const match = /^(\S+)\s+(True|False)$/.exec((lines[lines.length - 1] ?? '').trim())
  if (match === null) return null
  return { torch: match[1] ?? '', cuda: match[2] === 'True' }
}

function lastLineOf (text: string): string {
  const lines = text.trim().split(/\r?\n/)
  const line = (lines[lines.length - 1] ?? '').trim()
  return line.length <= MAX_PROBLEM_CHARS ? line : `${line.slice(0, MAX_PROBLEM_CHARS - 1)}…`
}

async function probe (candidate: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ProbeResult> {
  return await new Promise(resolve => {
    execFile(candidate, ['-c', PROBE], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean }
        if (e.code === 'ENOENT') return resolve({ ok: false, problem: 'not found' })
        if (e.code === 'EACCES') return resolve({ ok: false, problem: 'not executable' })
        if (e.killed === true) return resolve({ ok: false, problem: `timed out after ${Math.round(timeoutMs / 1000)} s` })
        const why = lastLineOf(String(stderr))
        return resolve({ ok: false, problem: why === '' ? e.message : why })
      }
      const parsed = parseProbeOutput(String(stdout))
      if (parsed === null) return resolve({ ok: false, problem: `unexpected output: ${lastLineOf(String(stdout))}` })
      resolve({ ok: true, info: { path: candidate, ...parsed } })
    })
  })
}

/** The ordered, de-duplicated list of interpreters findPython will try. */
export function pythonCandidates (opts: FindPythonOptions = {}): string[] {
  const env = opts.env ?? process.env
  const list = [opts.preferred, env.SWARM_PYTHON, ...(opts.candidates ?? DEFAULT_CANDIDATES)]
  const seen = new Set<string>()
  const out: string[] = []
  for (const c of list) {
    const trimmed = c?.trim() ?? ''
    if (trimmed === '' || seen.has(trimmed)) continue
    seen.add(trimmed)
    out.push(trimmed)
  }
  return out
}

// Probing costs seconds (importing torch), so a process asks each list once.
// Only successes are kept: after a failure the user may install torch and retry.
const cache = new Map<string, Promise<PythonInfo>>()

export async function findPython (opts: FindPythonOptions = {}): Promise<PythonInfo> {
  const candidates = pythonCandidates(opts)
  const key = JSON.stringify(candidates)
  const cached = cache.get(key)
  if (cached !== undefined) return await cached

  const search = (async () => {
    const env = opts.env ?? process.env
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const attempts: ProbeAttempt[] = []
    for (const candidate of candidates) {
      const result = await probe(candidate, env, timeoutMs)
      if (result.ok) return result.info
      attempts.push({ candidate, problem: result.problem })
    }
    throw new PythonNotFoundError(attempts)
  })()
  cache.set(key, search)
  search.catch(() => cache.delete(key))
  return await search
}

/** Quotes a word for /bin/sh only when it needs it. */
export function shellQuote (word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  return `'${word.replace(/'/g, `'\\''`)}'`
}

/** Replaces every `{python}` in a manifest command with the interpreter path. */
export function substitutePython (command: string, python: string): string {
  return command.split('{python}').join(shellQuote(python))
}

export interface PythonRoots {
  /** The interpreter itself, past any shim (pyenv, asdf). */
  executable: string
  /** Where it loads from: its prefixes and every folder on sys.path. */
  dirs: string[]
}

const ROOTS_PROBE = 'import sys, json; print(json.dumps({"executable": sys.executable, "dirs": [sys.prefix, sys.base_prefix, sys.exec_prefix] + [p for p in sys.path if p]}))'
const rootsCache = new Map<string, Promise<PythonRoots | null>>()

/**
 * What a sandbox must show an interpreter for it to start: asked of the
 * interpreter itself (run as the user, in the project folder, so a pyenv
 * `.python-version` there picks the same version it would). Null when it does
 * not answer; the sandbox then shows only the system.
 */
export async function pythonRoots (python: string, cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<PythonRoots | null> {
  const key = `${python}\0${cwd}`
  let p = rootsCache.get(key)
  if (p == null) {
    p = new Promise(resolve => {
      execFile(python, ['-c', ROOTS_PROBE], { cwd, env, timeout: DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, stdout) => {
        if (err !== null) return resolve(null)
        try {
          const parsed = JSON.parse(String(stdout).trim().split('\n').pop() ?? '') as PythonRoots
          if (typeof parsed.executable !== 'string' || !Array.isArray(parsed.dirs)) return resolve(null)
          resolve({ executable: parsed.executable, dirs: parsed.dirs.filter((d): d is string => typeof d === 'string' && d.startsWith('/')) })
        } catch {
          resolve(null)
        }
      })
    })
    rootsCache.set(key, p)
  }
  return await p
}
