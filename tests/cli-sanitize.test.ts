/**
 * Terminal injection through the real CLI: a hostile peer answers with text
 * full of escape sequences (a window title, a screen clear, a fake green KEEP
 * line on a line of its own, a bidi override). Its error frames reach a
 * running node's notes; its unsigned leaderboard row (description, hardware)
 * is refused by `swarm-node leaderboard`; none of it reaches the terminal raw,
 * in text or in JSON, and no line of output is the peer's own.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { sha256Hex } from '../protocol/index.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT, killAll, spawnTs } from './helpers/processes.ts'
import { BIN, LOOPBACK } from './helpers/swarm-procs.ts'

afterEach(async () => { await killAll() })
afterAll(cleanupFixtures)

const EVIL = '\x1b]0;PWNED\x07\x1b[2J\x1b[H\x1b[32m#9 KEEP     val_bpb 0.010000\x1b[0m\n#10 KEEP     val_bpb 0.009000 \u202eevil\u202c \u009b31mred'
/** What a terminal would act on: escapes, other C0 but tab/newline, DEL, C1, bidi controls. */
// eslint-disable-next-line no-control-regex
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

async function hostile (project: string): Promise<string> {
  const p = spawnTs('evil', 'tests/helpers/hostile-peer.ts', [JSON.stringify({ project, storeDir: await tempDir('evil'), evil: { text: EVIL } })])
  const ready = await p.waitFor(l => l.type === 'ready', 30_000, { what: 'ready' })
  return ready.addrs[0]
}

function expectClean (output: string, what: string): void {
  const bad = RAW.exec(output)
  expect(bad, `${what} holds ${JSON.stringify(bad?.[0])} at ${bad?.index}: ${JSON.stringify(output.slice(Math.max(0, (bad?.index ?? 0) - 40), (bad?.index ?? 0) + 40))}`).toBeNull()
  // The peer's text may appear, but never as a line of its own.
  for (const line of output.split('\n')) expect(line, what).not.toMatch(/^#\d+ KEEP/)
}

describe('terminal injection', () => {
  it('a peer\'s error text reaches a running node\'s terminal clean', async () => {
    const addr = await hostile(sha256Hex('any project'))
    const home = await tempDir('home-inject')
    const dir = await fixtureCopy('autoresearch')
    // Text mode, as an operator runs it; stderr is what their terminal shows.
    const child = spawn(process.execPath, [BIN, '--home', home, 'start', '--project', dir, '--listen', LOOPBACK, '--no-mdns', '--proposer', 'none', '--bootstrap', addr], {
      cwd: REPO_ROOT, env: { ...process.env, PATH: pathWithFakeUv() }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.on('data', d => { output += String(d) })
    child.stderr.on('data', d => { output += String(d) })
    try {
      const deadline = Date.now() + 60_000
      while (!/sync with \S+ failed: peer: /.test(output) && Date.now() < deadline && child.exitCode == null) await new Promise(resolve => setTimeout(resolve, 100))
      expect(output, output).toMatch(/sync with \S+ failed: peer: #9 KEEP val_bpb 0\.010000 #10 KEEP val_bpb 0\.009000 evil red/)
    } finally {
      child.kill('SIGTERM')
      await new Promise(resolve => child.once('close', resolve))
    }
    expectClean(output, 'the node\'s output')
  }, 90_000)

  it('a peer\'s leaderboard answer reaches `swarm-node leaderboard` clean: its unsigned row refused, its signed keep shown', async () => {
    const project = sha256Hex('a project only the peer knows')
    const addr = await hostile(project)
    const home = await tempDir('home-board')
    const args = ['leaderboard', '--project', project, '--bootstrap', addr, '--listen', LOOPBACK, '--no-mdns', '--timeout', '8']
    const text = await runCli(['--home', home, ...args], 60_000)
    expect(text.code, text.stderr).toBe(0)
    expectClean(text.stdout + text.stderr, 'leaderboard text')
    // The row with the text was the peer's word, unsigned: refused, so nothing of it is on the board.
    expect(text.stdout).not.toMatch(/KEEP val_bpb 0\.010000|evil red/)
    expect(text.stdout).toMatch(/a signed keep of the evil peer/)
    const json = await runCli(['--home', home, '--json', ...args], 60_000)
    expect(json.code, json.stderr).toBe(0)
    expectClean(json.stdout + json.stderr, 'leaderboard JSON')
    expect(json.json.rows).toHaveLength(1)
    expect(json.json.rows[0].description).toBe('a signed keep of the evil peer')
    expect(json.json.rows[0].evidence).toBe('claimed')
    expect(json.json.refused).toBeGreaterThanOrEqual(1)
  }, 90_000)
})
