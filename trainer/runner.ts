/**
 * Runs one training command under a wall-clock limit and reports what happened.
 *
 * The command runs through `/bin/sh -c` in its own process group so that a
 * timeout or abort can take down everything it started (uv -> python -> data
 * loader workers), not just the shell. Given a `launch` (trainer/sandbox), it
 * runs caged instead: the launch says what to spawn, and the runner waits for
 * the whole sandbox, not only the process it spawned, before it returns. Output goes straight from the child into
 * the log file descriptor: no pipe passes through this process, so a child that
 * prints a lot can never stall on a full pipe, and the event loop never touches
 * the output except to read small tails of the file.
 */
import { spawn } from 'node:child_process'
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises'
import { constants as fsConstants } from 'node:fs'
import { dirname } from 'node:path'
import type { Launch } from './sandbox/index.ts'
import { metricOf, missingMetric, parseSummary, lastProgressLine } from './summary.ts'
import type { Summary } from './summary.ts'

export interface RunProgress { elapsedS: number; budgetS?: number; lastLine: string }

export interface RunOptions {
  command: string
  cwd: string
  env?: Record<string, string>
  /** hard limit; the process group is killed when it passes */
  timeoutS: number
  /** the training budget the command was given, passed through to progress only */
  budgetS?: number
  logPath: string
  signal?: AbortSignal
  /** time between SIGTERM and SIGKILL, default 5000 */
  killGraceMs?: number
  onProgress?: (p: RunProgress) => void
  progressIntervalMs?: number
  /** How to start the command in its sandbox (trainer/sandbox); without it, a plain `/bin/sh -c` with env added to the node's. */
  launch?: Launch
}

export interface RunOutcome {
  exitCode: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  aborted: boolean
  elapsedS: number
  summary: Summary | null
  /** the last ~4 KB of the log */
  tail: string
}

export type Classification =
  | { kind: 'ok', value: number }
  | { kind: 'crash' | 'timeout' | 'aborted', reason: string }

type Exit =
  | { kind: 'exit', code: number | null, signal: NodeJS.Signals | null }
  | { kind: 'error', error: Error }

export class RunnerError extends Error {
  override name = 'RunnerError'
}

const TAIL_BYTES = 4096
const PROGRESS_TAIL_BYTES = 8192
const WHOLE_LOG_LIMIT = 4 * 1024 * 1024
const SUMMARY_TAIL_BYTES = 64 * 1024
const GROUP_POLL_MS = 50
const KILL_SETTLE_MS = 2000
const REASON_DETAIL_CHARS = 300
const MAX_TIMER_MS = 2 ** 31 - 1

/** Reads at most the last `bytes` bytes of a file; '' when it is missing or a link (never followed). */
export async function readTail (path: string, bytes: number): Promise<string> {
  let handle
  try {
    handle = await open(path, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0))
  } catch {
    return ''
  }
  try {
    const { size } = await handle.stat()
    const length = Math.min(size, bytes)
    const buf = Buffer.alloc(length)
    const { bytesRead } = await handle.read(buf, 0, length, size - length)
    return buf.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

async function readForSummary (path: string): Promise<Summary | null> {
  let size: number
  try {
    size = (await stat(path)).size
  } catch {
    return null
  }
  const text = await readTail(path, size <= WHOLE_LOG_LIMIT ? size : SUMMARY_TAIL_BYTES)
  return parseSummary(text)
}

/** Signals a whole process group; false when the group no longer exists. */
function signalGroup (pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig)
    return true
  } catch {
    // ESRCH: nothing left. EPERM: the id now names someone else's group; leave it be.
    return false
  }
}

// A function, not an inline test, so TypeScript does not narrow `aborted` across awaits.
function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/**
 * Whether any process in the group is still running. kill(-pgid, 0) alone is not
 * enough on Linux: when PID 1 does not reap orphans (containers, microVMs), dead
 * grandchildren linger as zombies and keep the group "existing" forever.
 */
async function groupHasLiveMembers (pgid: number): Promise<boolean> {
  if (!signalGroup(pgid, 0)) return false
  if (process.platform !== 'linux') return true
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return true
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let procStat: string
    try {
      procStat = await readFile(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited while we looked
    }
    // Fields after the parenthesised command name: state ppid pgrp ...
    const fields = procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true
  }
  return false
}

/**
 * After the leader has exited, gives any processes left in its group until
 * `deadline` to end on their own (they have had SIGTERM), then SIGKILLs them.
 */
async function sweepGroup (pgid: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (!await groupHasLiveMembers(pgid)) return
    await sleep(GROUP_POLL_MS)
  }
  signalGroup(pgid, 'SIGKILL')
  // SIGKILL lands asynchronously; wait briefly so callers see the group gone.
  const killedBy = Date.now() + KILL_SETTLE_MS
  while (Date.now() < killedBy && await groupHasLiveMembers(pgid)) await sleep(GROUP_POLL_MS)
}

/**
 * Opens (truncating) the log the child writes to. O_APPEND so stdout and
 * stderr, sharing this description, never overwrite each other; O_NOFOLLOW
 * because the log lives in a folder code we did not write could touch: a
 * link planted in its place (run.log -> ~/.bashrc) is removed, never followed.
 */
async function openLog (path: string): Promise<FileHandle> {
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_APPEND | (fsConstants.O_NOFOLLOW ?? 0)
  try {
    return await open(path, flags, 0o644)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err
    await rm(path, { force: true })
    return await open(path, flags, 0o644)
  }
}

/** bubblewrap's --info-fd report: `{"child-pid": n}`, the sandbox's PID 1 as the host sees it. */
async function readSandboxPid (stream: NodeJS.ReadableStream | null): Promise<number | null> {
  if (stream == null) return null
  return await new Promise(resolve => {
    let text = ''
    const done = (pid: number | null): void => {
      stream.removeAllListeners('data')
      stream.resume() // drain anything more without holding it
      resolve(pid)
    }
    stream.on('data', chunk => {
      text += String(chunk)
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text)
      if (m != null) done(Number(m[1]))
      else if (text.length > 64 * 1024) done(null)
    })
    stream.once('end', () => done(null))
    stream.once('error', () => done(null))
  })
}

/** Waits (bounded) for a process to be gone or a zombie, then kills it if it is not. */
async function untilGone (pid: number): Promise<void> {
  const deadline = Date.now() + KILL_SETTLE_MS
  const alive = async (): Promise<boolean> => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
    if (stat == null) return false
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
    return state !== 'Z' && state !== 'X'
  }
  while (await alive()) {
    if (Date.now() > deadline) {
      try { process.kill(pid, 'SIGKILL') } catch {}
      await sleep(GROUP_POLL_MS)
      if (Date.now() > deadline + KILL_SETTLE_MS) return
      continue
    }
    await sleep(GROUP_POLL_MS)
  }
}

function validate (opts: RunOptions): void {
  if (typeof opts.command !== 'string' || opts.command.trim() === '') {
    throw new RunnerError('runCommand: command is empty')
  }
  // setTimeout fires at once for delays past 2^31-1 ms, so longer limits are refused.
  if (!Number.isFinite(opts.timeoutS) || opts.timeoutS <= 0 || opts.timeoutS * 1000 > MAX_TIMER_MS) {
    throw new RunnerError(`runCommand: timeoutS must be a positive number up to ${Math.floor(MAX_TIMER_MS / 1000)}, got ${opts.timeoutS}`)
  }
  for (const [name, value] of [['killGraceMs', opts.killGraceMs], ['progressIntervalMs', opts.progressIntervalMs]] as const) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS)) {
      throw new RunnerError(`runCommand: ${name} must be a non-negative number, got ${value}`)
    }
  }
}

export async function runCommand (opts: RunOptions): Promise<RunOutcome> {
  validate(opts)
  const graceMs = opts.killGraceMs ?? 5000
  const intervalMs = Math.max(opts.progressIntervalMs ?? 1000, 10)

  const cwdIsDir = await stat(opts.cwd).then(st => st.isDirectory(), () => false)
  if (!cwdIsDir) throw new RunnerError(`runCommand: working directory ${opts.cwd} does not exist`)
  await mkdir(dirname(opts.logPath), { recursive: true })
  const log = await openLog(opts.logPath)

  if (isAborted(opts.signal)) {
    await log.close()
    return { exitCode: null, signal: null, timedOut: false, aborted: true, elapsedS: 0, summary: null, tail: '' }
  }

  const started = performance.now()
  const elapsedS = (): number => (performance.now() - started) / 1000

  const launch = opts.launch
  let child
  try {
    child = spawn(launch?.file ?? '/bin/sh', launch?.args ?? ['-c', opts.command], {
      cwd: opts.cwd,
      env: launch?.env ?? { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env },
      stdio: ['ignore', log.fd, log.fd, ...(launch?.infoFd != null ? ['pipe' as const] : [])],
      detached: true
    })
  } catch (err) {
    await log.close()
    await launch?.finished()
    throw new RunnerError(`could not start "${opts.command}" in ${opts.cwd}: ${(err as Error).message}`)
  }
  const sandboxPid = launch?.infoFd != null ? readSandboxPid(child.stdio[launch.infoFd] as NodeJS.ReadableStream | null) : Promise.resolve(null)
  const registered = child.pid !== undefined && launch != null
    ? sandboxPid.then(async sp => await launch.started(child.pid!, sp)).catch(() => {})
    : Promise.resolve()
  // Listen before the first await: a quick command (or a spawn error such as a
  // missing cwd) can report while we are still closing the descriptor below.
  const exited = new Promise<Exit>(resolve => {
    child.once('error', error => resolve({ kind: 'error', error }))
    child.once('exit', (code, signal) => resolve({ kind: 'exit', code, signal }))
  })
  // The child holds its own copy of the descriptor; ours is no longer needed.
  await log.close()

  let stop: 'timeout' | 'abort' | null = null
  let killDeadline = 0
  let killTimer: NodeJS.Timeout | undefined
  const pgid = child.pid

  const kill = (why: 'timeout' | 'abort'): void => {
    if (stop !== null || pgid === undefined) return
    stop = why
    killDeadline = Date.now() + graceMs
    signalGroup(pgid, 'SIGTERM')
    killTimer = setTimeout(() => signalGroup(pgid, 'SIGKILL'), graceMs)
  }

  const timeoutTimer = setTimeout(() => kill('timeout'), opts.timeoutS * 1000)
  const onAbort = (): void => kill('abort')
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  if (isAborted(opts.signal)) kill('abort') // aborted while the log was closing

  let progressBusy = false
  let finished = false
  const progressTimer = opts.onProgress === undefined
    ? undefined
    : setInterval(() => {
      if (progressBusy) return
      progressBusy = true
      readTail(opts.logPath, PROGRESS_TAIL_BYTES)
        .then(text => {
          if (finished) return
          const p: RunProgress = { elapsedS: elapsedS(), lastLine: lastProgressLine(text) }
          if (opts.budgetS !== undefined) p.budgetS = opts.budgetS
          opts.onProgress?.(p)
        })
        // A failing display callback must not take the run down with it.
        .catch(() => {})
        .finally(() => { progressBusy = false })
    }, intervalMs)

  const exit = await exited
  finished = true
  await registered
  clearTimeout(timeoutTimer)
  if (progressTimer !== undefined) clearInterval(progressTimer)
  opts.signal?.removeEventListener('abort', onAbort)
  if (exit.kind === 'error') {
    await launch?.finished()
    throw new RunnerError(`could not start "${opts.command}" in ${opts.cwd}: ${exit.error.message}`)
  }

  // Anything the command left running in its group (a backgrounded worker, a
  // grandchild ignoring SIGTERM) must not outlive the run and hold the GPU.
  if (pgid !== undefined) {
    if (stop === null) {
      if (await groupHasLiveMembers(pgid)) {
        signalGroup(pgid, 'SIGTERM')
        await sweepGroup(pgid, Date.now() + graceMs)
      }
    } else {
      await sweepGroup(pgid, killDeadline)
    }
  }
  clearTimeout(killTimer)
  // The sandbox's PID 1 ends everything inside it (setsid children too) when it goes.
  const inside = await sandboxPid
  if (inside !== null) await untilGone(inside)
  await launch?.finished()
  // Measured after the sweep: the run occupies the machine until its group is gone.
  const elapsed = elapsedS()

  const [summary, tail] = await Promise.all([readForSummary(opts.logPath), readTail(opts.logPath, TAIL_BYTES)])
  return {
    exitCode: exit.code,
    signal: exit.signal,
    timedOut: stop === 'timeout',
    aborted: stop === 'abort',
    elapsedS: elapsed,
    summary,
    tail
  }
}

function clip (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

function formatSeconds (s: number): string {
  return s < 10 ? s.toFixed(1) : String(Math.round(s))
}

/** Decides whether a run produced a usable metric, and if not, says why in words. */
export function classifyOutcome (o: RunOutcome, metric: string): Classification {
  if (o.aborted) return { kind: 'aborted', reason: `aborted after ${formatSeconds(o.elapsedS)} s` }
  if (o.timedOut) return { kind: 'timeout', reason: `timed out after ${formatSeconds(o.elapsedS)} s` }

  const lastLine = clip(lastProgressLine(o.tail), REASON_DETAIL_CHARS)
  const detail = lastLine === '' ? '' : `: ${lastLine}`
  if (o.exitCode !== 0) {
    const how = o.exitCode !== null ? `exit code ${o.exitCode}` : `killed by ${o.signal ?? 'an unknown signal'}`
    return { kind: 'crash', reason: `${how}${detail}` }
  }

  const value = metricOf(o.summary, metric)
  if (value !== null) return { kind: 'ok', value }
  return { kind: 'crash', reason: clip(missingMetric(o.summary, metric, lastLine), REASON_DETAIL_CHARS * 2) }
}
