import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { classifyOutcome, runCommand, RunnerError } from '../trainer/runner.ts'
import type { RunOutcome, RunProgress } from '../trainer/runner.ts'

const PY = '/usr/bin/python3'
// Scheduling slack on a shared two-core machine.
const SLACK_S = 3

let dir: string
const strays: number[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runner-test-'))
})
afterEach(() => {
  // Belt and braces: never leave a sleeping process group behind if an assertion failed.
  for (const pid of strays.splice(0)) {
    const group = processGroupOf(pid)
    try {
      if (group !== null && group !== processGroupOf(process.pid)) process.kill(-group, 'SIGKILL')
      else process.kill(pid, 'SIGKILL')
    } catch {}
  }
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** [state, ppid, pgrp, ...] from /proc/<pid>/stat, or null once the process is gone. */
function procStat (pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** Alive and not a zombie (orphans are not always reaped in containers). */
function isRunning (pid: number): boolean {
  const state = procStat(pid)?.[0]
  return state !== undefined && state !== 'Z' && state !== 'X'
}

function processGroupOf (pid: number): number | null {
  const group = Number(procStat(pid)?.[2])
  return Number.isInteger(group) && group > 1 ? group : null
}

async function pidFrom (file: string): Promise<number> {
  const pid = Number((await readFile(file, 'utf8')).trim())
  expect(pid).toBeGreaterThan(1)
  strays.push(pid)
  return pid
}

function log (name: string): string {
  return join(dir, `${name}.log`)
}

describe('runCommand', () => {
  it('runs a command that prints a summary and classifies it ok', async () => {
    const cmd = `${PY} -c "import os; print('step 1'); print('---'); print('val_bpb: 0.95'); print('who:', os.environ['WHO'], os.environ['PYTHONUNBUFFERED']); print('cwd:', os.path.basename(os.getcwd()))"`
    const o = await runCommand({ command: cmd, cwd: dir, env: { WHO: 'tester' }, timeoutS: 30, logPath: log('ok') })
    expect(o).toMatchObject({ exitCode: 0, signal: null, timedOut: false, aborted: false })
    expect(o.summary).toEqual({ val_bpb: 0.95, who: 'tester 1', cwd: dir.split('/').pop() })
    expect(o.tail).toContain('val_bpb: 0.95')
    expect(await readFile(log('ok'), 'utf8')).toContain('step 1\n---\n')
    expect(classifyOutcome(o, 'val_bpb')).toEqual({ kind: 'ok', value: 0.95 })
  })

  it('truncates the log and captures stderr too', async () => {
    const path = log('trunc')
    await runCommand({ command: 'echo old-run-output', cwd: dir, timeoutS: 10, logPath: path })
    const o = await runCommand({ command: 'echo out; echo err >&2', cwd: dir, timeoutS: 10, logPath: path })
    const text = await readFile(path, 'utf8')
    expect(text).not.toContain('old-run-output')
    expect(text).toContain('out\n')
    expect(text).toContain('err\n')
    expect(o.summary).toBeNull()
  })

  it('reports a crash with its exit code and last line', async () => {
    const o = await runCommand({ command: 'echo "step 12"; echo "FAIL: loss is nan at step 12"; exit 1', cwd: dir, timeoutS: 10, logPath: log('crash') })
    expect(o.exitCode).toBe(1)
    expect(classifyOutcome(o, 'val_bpb')).toEqual({ kind: 'crash', reason: 'exit code 1: FAIL: loss is nan at step 12' })
  })

  it('calls a clean exit without the metric a crash', async () => {
    const o = await runCommand({ command: 'echo "---"; echo "loss: 2.0"', cwd: dir, timeoutS: 10, logPath: log('nometric') })
    expect(o.exitCode).toBe(0)
    const c = classifyOutcome(o, 'val_bpb')
    expect(c.kind).toBe('crash')
    expect(c.kind === 'ok' ? '' : c.reason).toBe('no val_bpb in the summary: it printed loss')
  })

  it('kills the whole process group at the timeout, grandchildren included', async () => {
    const pidFile = join(dir, 'grandchild.pid')
    const cmd = `sh -c 'sleep 1000 & echo $! > ${pidFile}; sleep 1000'`
    const t0 = Date.now()
    const o = await runCommand({ command: cmd, cwd: dir, timeoutS: 1, killGraceMs: 500, logPath: log('timeout') })
    const wall = (Date.now() - t0) / 1000
    const grandchild = await pidFrom(pidFile)
    expect(o.timedOut).toBe(true)
    expect(o.aborted).toBe(false)
    expect(o.elapsedS).toBeGreaterThanOrEqual(0.9)
    expect(o.elapsedS).toBeLessThan(1 + 0.5 + SLACK_S)
    expect(wall).toBeLessThan(1 + 0.5 + SLACK_S)
    expect(isRunning(grandchild)).toBe(false)
    expect(classifyOutcome(o, 'val_bpb')).toEqual({ kind: 'timeout', reason: expect.stringMatching(/^timed out after 1(\.\d)? s$/) })
  })

  it('escalates to SIGKILL for a grandchild that ignores SIGTERM', async () => {
    const pidFile = join(dir, 'stubborn.pid')
    const cmd = `sh -c 'trap "" TERM; sleep 1000 & echo $! > ${pidFile}; wait'`
    const o = await runCommand({ command: cmd, cwd: dir, timeoutS: 0.5, killGraceMs: 700, logPath: log('stubborn') })
    const stubborn = await pidFrom(pidFile)
    expect(o.timedOut).toBe(true)
    // elapsedS covers the grace period: the run holds the machine until its group is gone.
    expect(o.elapsedS).toBeGreaterThanOrEqual(0.5 + 0.6)
    expect(o.elapsedS).toBeLessThan(0.5 + 0.7 + SLACK_S)
    expect(isRunning(stubborn)).toBe(false)
  })

  it('does not let a background process outlive a normal exit', async () => {
    const pidFile = join(dir, 'background.pid')
    const cmd = `sleep 1000 & echo $! > ${pidFile}; echo ---; echo val_bpb: 1.5`
    const t0 = Date.now()
    const o = await runCommand({ command: cmd, cwd: dir, timeoutS: 30, killGraceMs: 2000, logPath: log('background') })
    const background = await pidFrom(pidFile)
    expect(Date.now() - t0).toBeLessThan(SLACK_S * 1000)
    expect(o).toMatchObject({ exitCode: 0, timedOut: false, summary: { val_bpb: 1.5 } })
    expect(isRunning(background)).toBe(false)
  })

  it('stops on abort and marks the outcome aborted', async () => {
    const pidFile = join(dir, 'abort.pid')
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 300)
    const o = await runCommand({ command: `sleep 1000 & echo $! > ${pidFile}; wait`, cwd: dir, timeoutS: 30, killGraceMs: 500, signal: ac.signal, logPath: log('abort') })
    const sleeper = await pidFrom(pidFile)
    expect(o).toMatchObject({ aborted: true, timedOut: false, exitCode: null, signal: 'SIGTERM' })
    expect(o.elapsedS).toBeLessThan(0.3 + SLACK_S)
    expect(isRunning(sleeper)).toBe(false)
    expect(classifyOutcome(o, 'val_bpb').kind).toBe('aborted')
  })

  it('does not start when already aborted', async () => {
    const marker = join(dir, 'should-not-exist')
    const o = await runCommand({ command: `touch ${marker}`, cwd: dir, timeoutS: 10, signal: AbortSignal.abort(), logPath: log('preabort') })
    expect(o.aborted).toBe(true)
    await expect(stat(marker)).rejects.toThrow()
  })

  it('survives 50 MB of output and still finds the summary at the end', async () => {
    const progress: RunProgress[] = []
    const cmd = `yes 'step 00001 | loss: 3.14159 | padding padding padding' | head -c 50000000; echo; echo ---; echo val_bpb: 0.875; echo num_steps: 953`
    const o = await runCommand({ command: cmd, cwd: dir, timeoutS: 45, logPath: log('big'), progressIntervalMs: 50, onProgress: p => progress.push(p) })
    expect(o.exitCode).toBe(0)
    expect((await stat(log('big'))).size).toBeGreaterThan(50_000_000)
    expect(o.summary).toEqual({ val_bpb: 0.875, num_steps: 953 })
    expect(Buffer.byteLength(o.tail)).toBeLessThanOrEqual(4096)
    expect(o.tail).toMatch(/val_bpb: 0\.875\nnum_steps: 953\n$/)
    await rm(log('big'))
  })

  it('reports progress with the latest line, including \\r-redrawn ones', async () => {
    const progress: RunProgress[] = []
    const script = [
      'import time',
      'for i in range(1, 6):',
      "    print(f'\\\\rstep {i:05d} | loss: {9 - i}.0   ', end='')",
      '    time.sleep(0.25)',
      "print(); print('---'); print('val_bpb: 1.1')"
    ].join('\n')
    const o = await runCommand({
      command: `${PY} -c "${script}"`,
      cwd: dir,
      timeoutS: 30,
      budgetS: 300,
      logPath: log('progress'),
      progressIntervalMs: 100,
      onProgress: p => progress.push(p)
    })
    expect(o.exitCode).toBe(0)
    expect(o.summary).toEqual({ val_bpb: 1.1 })
    const lines = progress.map(p => p.lastLine)
    expect(lines.length).toBeGreaterThanOrEqual(4)
    expect(lines).toContain('step 00003 | loss: 6.0')
    expect(lines.every(l => !l.startsWith('val_bpb'))).toBe(true)
    expect(progress.every(p => p.budgetS === 300)).toBe(true)
    const times = progress.map(p => p.elapsedS)
    expect([...times].sort((a, b) => a - b)).toEqual(times)
  })

  it('keeps running when the progress callback throws', async () => {
    let calls = 0
    const o = await runCommand({
      command: 'sleep 0.5; echo ---; echo val_bpb: 2',
      cwd: dir,
      timeoutS: 10,
      logPath: log('throwing'),
      progressIntervalMs: 50,
      onProgress: () => { calls++; throw new Error('display broke') }
    })
    expect(calls).toBeGreaterThan(0)
    expect(classifyOutcome(o, 'val_bpb')).toEqual({ kind: 'ok', value: 2 })
  })

  it('rejects bad options and a missing working directory with RunnerError', async () => {
    await expect(runCommand({ command: 'true', cwd: dir, timeoutS: 0, logPath: log('bad') })).rejects.toThrow(RunnerError)
    await expect(runCommand({ command: '  ', cwd: dir, timeoutS: 1, logPath: log('bad') })).rejects.toThrow(/command is empty/)
    await expect(runCommand({ command: 'true', cwd: dir, timeoutS: 30 * 86400, logPath: log('bad') })).rejects.toThrow(/timeoutS must be/)
    await expect(runCommand({ command: 'true', cwd: dir, timeoutS: 1, killGraceMs: -1, logPath: log('bad') })).rejects.toThrow(/killGraceMs/)
    await expect(runCommand({ command: 'true', cwd: join(dir, 'nope'), timeoutS: 5, logPath: log('bad') })).rejects.toThrow(/working directory .* does not exist/)
  })
})

describe('classifyOutcome', () => {
  const base: RunOutcome = { exitCode: 0, signal: null, timedOut: false, aborted: false, elapsedS: 42.4, summary: { val_bpb: 0.99 }, tail: '' }

  it.each<[Partial<RunOutcome>, ReturnType<typeof classifyOutcome>]>([
    [{}, { kind: 'ok', value: 0.99 }],
    [{ aborted: true, exitCode: null, signal: 'SIGTERM' }, { kind: 'aborted', reason: 'aborted after 42 s' }],
    [{ timedOut: true, exitCode: null, signal: 'SIGTERM', elapsedS: 30.2 }, { kind: 'timeout', reason: 'timed out after 30 s' }],
    [{ exitCode: null, signal: 'SIGSEGV', tail: 'step 5\nSegmentation fault\n' }, { kind: 'crash', reason: 'killed by SIGSEGV: Segmentation fault' }],
    [{ exitCode: 137, tail: '' }, { kind: 'crash', reason: 'exit code 137' }],
    [{ exitCode: 1, tail: 'Traceback (most recent call last):\n  ...\ntorch.OutOfMemoryError: CUDA out of memory\n' }, { kind: 'crash', reason: 'exit code 1: torch.OutOfMemoryError: CUDA out of memory' }],
    [{ summary: { val_bpb: 'nan' } }, { kind: 'crash', reason: 'val_bpb is not a positive number: nan' }],
    [{ summary: { val_bpb: 0 } }, { kind: 'crash', reason: 'val_bpb is not a positive number: 0' }],
    [{ summary: null, tail: 'done\n' }, { kind: 'crash', reason: 'no val_bpb in output: no summary block (a line "---", then "key: value" lines) was printed; last line: done' }],
    [{ summary: { val_loss: 3.2, training_seconds: 30 }, tail: 'step 00100 | loss: 3.2100\n---\nval_loss: 3.2\ntraining_seconds: 30\n' }, { kind: 'crash', reason: 'no val_bpb in the summary: it printed val_loss, training_seconds' }]
  ])('%o', (patch, expected) => {
    expect(classifyOutcome({ ...base, ...patch }, 'val_bpb')).toEqual(expected)
  })

  it('clips a very long last line', () => {
    const c = classifyOutcome({ ...base, exitCode: 2, tail: 'x'.repeat(5000) }, 'val_bpb')
    expect(c.kind === 'crash' && c.reason.length < 400).toBe(true)
  })
})

describe('runCommand and links in place of its log', () => {
  it('removes a link planted where the log goes instead of writing (or reading) through it', async () => {
    const victim = join(dir, 'victim.txt')
    await writeFile(victim, 'precious\n')
    const logPath = join(dir, 'linked.log')
    await symlink(victim, logPath)
    const out = await runCommand({ command: 'echo hello', cwd: dir, timeoutS: 10, logPath })
    expect(out.exitCode).toBe(0)
    expect(await readFile(victim, 'utf8')).toBe('precious\n')
    expect(await readFile(logPath, 'utf8')).toBe('hello\n')
    expect(out.tail).toBe('hello\n')
  })
})
