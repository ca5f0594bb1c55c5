/**
 * One-shot `swarm-node` commands for tests (status, results, leaderboard, ...):
 * run to completion under a time limit, with stdout, stderr, the exit code,
 * how long it took, and stdout parsed as JSON when it is.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { pathWithFakeUv } from './fixtures.ts'
import { REPO_ROOT } from './processes.ts'

export interface CliResult { code: number | null, stdout: string, stderr: string, ms: number, json: any }

/** `cwd`: where the command runs (default the repository root), for commands that write files there. */
export async function runCli (args: string[], timeoutMs = 30_000, cwd = REPO_ROOT): Promise<CliResult> {
  const t0 = Date.now()
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'swarm-node.js'), ...args], {
    cwd,
    env: { ...process.env, PATH: pathWithFakeUv() },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += String(d) })
  child.stderr.on('data', d => { stderr += String(d) })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => child.once('close', c => { resolve(c) }))
  clearTimeout(timer)
  let json: any = null
  try { json = JSON.parse(stdout) } catch {}
  return { code, stdout, stderr, ms: Date.now() - t0, json }
}
