/**
 * An `--offline` node serves the control API too: `status`, `peers`,
 * `results` and `leaderboard` (its own keeps) answer; a second node on the
 * same home is refused; a clean stop removes control.json, after which the
 * commands say no node runs and `results` reads the results log.
 */
import { access } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { controlPath } from '../node/control/control-file.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures, fixtureCopy } from './helpers/fixtures.ts'
import { CliProc, startTrainer, type Trainer } from './helpers/swarm-procs.ts'

let T: Trainer

beforeAll(async () => {
  T = await startTrainer('offline', { offline: true, seed: 3, confirm: false })
  await T.proc.waitFor(e => e.type === 'experiment-end' && e.record.status === 'keep', 30_000, 'a keep')
  await T.proc.waitFor(e => e.type === 'control', 5000, 'the control API')
}, 60_000)

afterAll(async () => {
  await T?.proc.stop(200)
  await cleanupFixtures()
})

describe('an offline node', () => {
  it('answers status, peers and leaderboard from itself', async () => {
    const [status, peers, board] = await Promise.all([
      runCli(['--home', T.home, '--json', 'status']),
      runCli(['--home', T.home, 'peers']),
      runCli(['--home', T.home, '--json', 'leaderboard', '--limit', '2'])
    ])
    expect(status.code).toBe(0)
    expect(status.json).toMatchObject({ offline: true, peers: 0, addrs: [], peerId: T.peerId })
    expect(status.json.best).toMatchObject({ author: T.peerId, attestations: 0 })
    expect(peers.code).toBe(0)
    expect(peers.stdout.trim()).toBe('no peers: the node runs --offline')
    expect(board.code).toBe(0)
    expect(board.json.source).toBe('node')
    expect(board.json.rows.length).toBeGreaterThan(0)
    expect(board.json.rows.length).toBeLessThanOrEqual(2)
    expect(board.json.rows[0]).toMatchObject({ rank: 1, author: T.peerId, attestations: 0, track: T.track })
    expect(board.json.rows[0].delta).toBeLessThan(0)
  })

  it('refuses a second node on the same home', async () => {
    const dir = await fixtureCopy('autoresearch')
    const second = new CliProc('second', ['--home', T.home, '--json', 'start', '--offline', '--project', dir])
    expect(await second.exited).toBe(1)
    expect(second.tail()).toMatch(/another node \(pid \d+\) is running with the home/)
  })

  it('stops cleanly: control.json goes, status exits 3, results reads the log', async () => {
    expect(await T.proc.stop(10_000)).toBe(0)
    await expect(access(controlPath(T.home))).rejects.toThrow(/ENOENT/)
    const status = await runCli(['--home', T.home, 'status'])
    expect(status.code).toBe(3)
    const results = await runCli(['--home', T.home, '--json', 'results', '--status', 'keep'])
    expect(results.code).toBe(0)
    expect(results.json.source).toBe('file')
    expect(results.json.records.length).toBeGreaterThan(0)
  })
})
