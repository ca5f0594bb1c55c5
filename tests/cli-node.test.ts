/**
 * `status`, `peers`, `results`, `leaderboard` and `plot` against real
 * `swarm-node start` processes on loopback: A researches, B (a verifier)
 * reproduces A's keeps. Then the commands with no node: exit status 3,
 * results from the results log, and `leaderboard` joining the swarm briefly.
 */
import { spawn } from 'node:child_process'
import { cp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findNode } from '../node/control/client.ts'
import type { PeerInfo } from '../node/control/view.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT } from './helpers/processes.ts'
import { LOOPBACK, sleep, startTrainer, type Trainer } from './helpers/swarm-procs.ts'

let A: Trainer
let B: Trainer

async function until<T> (what: string, fn: () => Promise<T | null | undefined | false>, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const v = await fn().catch(() => null)
    if (v != null && v !== false) return v
    await sleep(250)
  }
  throw new Error(`no ${what} within ${ms} ms`)
}

beforeAll(async () => {
  A = await startTrainer('A', { seed: 3, confirm: false })
  B = await startTrainer('B', { proposer: 'none', bootstrap: [A.addr!] })
  // B has reproduced one of A's keeps: the board then has an attested row.
  await B.proc.waitFor(e => e.type === 'experiment-end' && e.record.origin != null && e.record.status === 'keep', 40_000, 'a reproduction by B')
  const a = (await findNode(A.home))!
  await until('B among A\'s peers', async () => (await a.get<{ peers: PeerInfo[] }>('/api/peers')).peers.some(p => p.peer === B.peerId), 15_000)
}, 70_000)

afterAll(async () => {
  // SIGKILL: a clean stop is another test's subject, and it can wait on DHT writes here.
  await Promise.all([A, B].filter(t => t != null).map(async t => await t.proc.stop(200)))
  await cleanupFixtures()
})

describe('commands against a running node', () => {
  it('status: what the node does, as text and as JSON', async () => {
    const json = await runCli(['--home', A.home, 'status', '--json'])
    expect(json.code).toBe(0)
    expect(json.json).toMatchObject({ peerId: A.peerId, offline: false, track: A.track, project: { id: A.project, name: 'autoresearch-fixture', dir: A.dir } })
    expect(json.json.peers).toBeGreaterThanOrEqual(1)
    expect(json.json.experiments).toBeGreaterThan(0)
    expect(json.json.control.dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/)
    // A loopback swarm: no NAT traversal, no public DHT; every link direct.
    expect(json.json.network).toMatchObject({ local: true, reachability: 'private', relays: [], relaying: false, amino: null })
    expect(json.json.network.links.length).toBeGreaterThanOrEqual(1)
    expect(json.json.network.links.every((l: { kind: string }) => l.kind === 'direct')).toBe(true)
    const text = await runCli(['--home', A.home, 'status'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^node {6}12D3KooW\w+ {2}pid \d+/m)
    expect(text.stdout).toMatch(/^project {3}autoresearch-fixture [0-9a-f]{12}/m)
    expect(text.stdout).toMatch(/^swarm {5}[1-9]\d* peers?$/m)
    expect(text.stdout).toMatch(/^network {3}on this LAN\/loopback only .* links: [1-9]\d* direct, 0 relayed/m)
    expect(text.stdout).toMatch(/^baseline {2}\d\.\d{6} at [0-9a-f]{7}/m)
    expect(text.stdout).toMatch(/^dashboard http:\/\/127\.0\.0\.1:\d+\/\?token=/m)
  })

  it('peers: B is listed with its heartbeat fields', async () => {
    const json = await runCli(['--home', A.home, '--json', 'peers'])
    expect(json.code).toBe(0)
    const b = json.json.peers.find((p: PeerInfo) => p.peer === B.peerId)
    expect(b).toMatchObject({ peer: B.peerId, direction: expect.stringMatching(/inbound|outbound/) })
    expect(b.addrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    // On loopback every link is direct TCP.
    expect(b.link).toEqual({ kind: 'direct', transport: 'tcp', limited: false })
    const text = await runCli(['--home', A.home, 'peers'])
    expect(text.stdout.split('\n')[0]).toMatch(/^peer +dir +link +address +track +best +exps +kept +trust +heard$/)
    expect(text.stdout).toContain('direct tcp')
    expect(text.stdout).toContain(`…${B.peerId.slice(-6)}`)
    expect(text.stdout).toMatch(/^\d+ peers?$/m)
  })

  it('results: the history with --status, --limit and --since', async () => {
    const all = await runCli(['--home', A.home, '--json', 'results'])
    expect(all.code).toBe(0)
    expect(all.json.source).toBe('node')
    expect(all.json.project.id).toBe(A.project)
    const records = all.json.records as Array<{ seq: number, status: string }>
    expect(records[0]).toMatchObject({ seq: 1, status: 'baseline' })
    const keeps = await runCli(['--home', A.home, '--json', 'results', '--status', 'keep'])
    expect(keeps.json.records.length).toBeGreaterThan(0)
    expect(keeps.json.records.every((r: { status: string }) => r.status === 'keep')).toBe(true)
    const last2 = await runCli(['--home', A.home, 'results', '--limit', '2', '--since', '1h'])
    expect(last2.code).toBe(0)
    const lines = last2.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^seq +commit +val_bpb +verified +decision +mem_gb +status +age +description$/)
    expect(lines).toHaveLength(4)
    expect(lines[1]).toMatch(/^ *\d+ +[0-9a-f]{7} +\d\.\d{6} /)
    expect(lines[3]).toMatch(/^autoresearch-fixture: 0 baselines, 2 experiments, [0-2] kept \(from the running node\)$/)
    const future = await runCli(['--home', A.home, '--json', 'results', '--since', '2999-01-01'])
    expect(future.json.records).toEqual([])
    const bad = await runCli(['--home', A.home, 'results', '--since', 'yesterday'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/--since "yesterday": use a duration/)
  })

  it('leaderboard: ranked rows with attestations from the node\'s store', async () => {
    const json = await runCli(['--home', A.home, '--json', 'leaderboard'])
    expect(json.code).toBe(0)
    expect(json.json.source).toBe('node')
    const rows = json.json.rows
    expect(rows.length).toBeGreaterThan(0)
    // A's own keeps are measured by A: verified here, best first; B's reproduction attests one of them.
    expect(rows[0]).toMatchObject({ rank: 1, project: A.project, track: A.track, author: A.peerId, evidence: 'verified' })
    expect(rows.some((r: { attestations: number }) => r.attestations >= 1)).toBe(true)
    expect(rows[0].delta).toBeLessThan(0)
    const text = await runCli(['--home', A.home, 'leaderboard', '--project', A.dir, '--track', A.track, '--limit', '1'])
    expect(text.code).toBe(0)
    const lines = text.stdout.split('\n')
    expect(lines[0]).toBe(`autoresearch-fixture (${A.project.slice(0, 12)})  track ${A.track}  from the running node`)
    expect(lines[1]).toMatch(/^rank +val_bpb +evidence +delta +atts +author +hardware +age +description$/)
    // A's own keep, measured by A: verified here.
    expect(lines[2]).toMatch(new RegExp(`^ +1 +\\d\\.\\d{6} +verified here +-\\d\\.\\d{4} +\\d+ +…${A.peerId.slice(-6)} `))
    expect(lines[3]).toMatch(/^\(evidence: verified here = measured by this node/)
  })

  it('plot: an SVG of every experiment with the kept ones joined', async () => {
    const out = join(await tempDir('plot'), 'progress.svg')
    const res = await runCli(['--home', A.home, '--json', 'plot', '--out', out])
    expect(res.code).toBe(0)
    expect(res.json).toMatchObject({ path: out, project: { id: A.project } })
    const svg = await readFile(out, 'utf8')
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg).toMatch(new RegExp(`autoresearch-fixture: 1 baseline, ${res.json.experiments} experiments?, ${res.json.kept} kept`))
    expect(svg.match(/<circle /g)!.length).toBeGreaterThanOrEqual(res.json.kept)
    expect(svg).toMatch(/<path d="M[\d.]+,[\d.]+ H/)
  })
})

describe('commands with no node running', () => {
  it('status and peers exit 3 and say to start one', async () => {
    const home = await tempDir('nobody')
    const s = await runCli(['--home', home, 'status'])
    expect(s.code).toBe(3)
    expect(s.stderr).toMatch(/no node is running with the home .*: start one with `npx swarm-node start`/)
    const p = await runCli(['--home', home, '--json', 'peers'])
    expect(p.code).toBe(3)
    expect(p.json.error).toMatch(/swarm-node start/)
  })

  it('results reads the results log of the home', async () => {
    const home = await tempDir('copy')
    await cp(join(A.home, 'runs'), join(home, 'runs'), { recursive: true })
    const res = await runCli(['--home', home, '--json', 'results', '--status', 'baseline'])
    expect(res.code).toBe(0)
    expect(res.json).toMatchObject({ source: 'file', project: { id: A.project } })
    expect(res.json.records).toHaveLength(1)
    const byDir = await runCli(['--home', home, 'results', '--project', A.dir, '--limit', '1'])
    expect(byDir.stdout).toMatch(/^autoresearch-fixture: 0 baselines, 1 experiment, [01] kept \(from the results log\)$/m)
    // By name too: the home knows which project its runs belong to.
    const byName = await runCli(['--home', home, '--json', 'results', '--project', 'autoresearch-fixture', '--limit', '1'])
    expect(byName.json.project).toMatchObject({ id: A.project, name: 'autoresearch-fixture', dir: A.dir })
    const none = await runCli(['--home', await tempDir('empty'), 'results'])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/which project\? .*pass --project <dir, name or id>/)
  })

  it('leaderboard joins the swarm briefly and asks its peers', async () => {
    const home = await tempDir('asker')
    const args = ['--home', home, 'leaderboard', '--project', A.dir, '--bootstrap', A.addr!, '--listen', LOOPBACK, '--no-mdns', '--timeout', '10']
    const json = await runCli([...args, '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(json.ms).toBeLessThan(18_000)
    expect(json.json).toMatchObject({ source: 'swarm', project: { id: A.project, name: 'autoresearch-fixture' } })
    expect(json.json.answered).toBeGreaterThanOrEqual(1)
    expect(json.json.rows[0]).toMatchObject({ rank: 1, author: A.peerId, track: A.track })
    // A throwaway asker trusts nobody yet: every row is a claim, and B's attestation is counted, not believed.
    expect(json.json.rows.every((r: { evidence: string }) => r.evidence === 'claimed')).toBe(true)
    expect(json.json.rows.some((r: { attestations: number }) => r.attestations >= 1)).toBe(true)
    const text = await runCli([...args, '--limit', '1'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^autoresearch-fixture \([0-9a-f]{12}\) {2}track \S+ {2}from the swarm \(\d+ of \d+ peers answered\)$/m)
    expect(text.stdout).toMatch(/^ +1 +\d\.\d{6} /m)
  })

  it('leaderboard prints what the home\'s store knows at once, before asking the swarm; --offline asks nobody', async () => {
    const home = await tempDir('local-first')
    await cp(join(A.home, 'store'), join(home, 'store'), { recursive: true })
    await cp(join(A.home, 'runs'), join(home, 'runs'), { recursive: true })
    // No peer to ask: the swarm part waits out its --timeout, the local board is already on the screen.
    const t0 = Date.now()
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'swarm-node.js'), '--home', home, 'leaderboard', '--listen', LOOPBACK, '--no-mdns', '--timeout', '3'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let firstRowAt = 0
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += String(d); if (firstRowAt === 0 && /^ +1 +\d\.\d{6} /m.test(stdout)) firstRowAt = Date.now() })
    child.stderr.on('data', d => { stderr += String(d) })
    const code = await new Promise<number | null>(resolve => child.once('close', resolve))
    const exitAt = Date.now()
    expect(code, stderr).toBe(0)
    expect(stdout).toMatch(new RegExp(`^autoresearch-fixture \\(${A.project.slice(0, 12)}\\)  track ${A.track}  from this home's store \\(\\d+ results? heard\\)$`, 'm'))
    expect(firstRowAt).toBeGreaterThan(0)
    expect(exitAt - firstRowAt).toBeGreaterThan(2000) // shown before the 3 s of asking, not after
    expect(stderr).toMatch(/asking the swarm \(up to 3 s; --offline skips this\)/)
    expect(stderr).toMatch(/no peer of the swarm answered within 3s.*\n\(the board above is what this home knows\)/s)
    expect(Date.now() - t0).toBeLessThan(15_000)
    const offline = await runCli(['--home', home, '--json', 'leaderboard', '--offline'])
    expect(offline.code, offline.stderr).toBe(0)
    expect(offline.json).toMatchObject({ source: 'local', project: { id: A.project, name: 'autoresearch-fixture' } })
    expect(offline.json.rows[0]).toMatchObject({ rank: 1, author: A.peerId })
    expect(offline.ms).toBeLessThan(8000)
  })

  it('leaderboard gives up within --timeout when no peer answers (exit 4), and needs a project', async () => {
    const home = await tempDir('alone')
    const alone = await runCli(['--home', home, 'leaderboard', '--project', A.project, '--listen', LOOPBACK, '--no-mdns', '--timeout', '2'])
    expect(alone.code).toBe(4)
    expect(alone.ms).toBeLessThan(12_000) // 2 s of asking, the rest is starting a process on a busy machine
    expect(alone.stderr).toMatch(/no peer of the swarm answered within 2s: pass --bootstrap/)
    const which = await runCli(['--home', home, 'leaderboard', '--no-mdns', '--timeout', '1'])
    expect(which.code).toBe(2)
    expect(which.stderr).toMatch(/pass --project <dir, name or id>/)
  })
})
