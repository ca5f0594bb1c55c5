/**
 * No run outlives its node. `kill -9` of a `swarm-node start` process in the
 * middle of a run, ten times in a row, leaves no training process behind: in
 * the sandbox the kernel ends the run's PID namespace with the node, even the
 * child the run moved into its own session. Without a sandbox a parent-death
 * signal takes the run's process group with it, and what escaped the group
 * (a setsid child) is killed at the next start, from the run's own cgroup.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { cleanupFixtures } from './helpers/fixtures.ts'
import { PAYLOAD_LINE, hostileWorld, leftovers, type World } from './helpers/hostile-cases.ts'
import { startTrainer, stopAll, sleep, type Trainer } from './helpers/swarm-procs.ts'

let world: World | undefined
afterEach(stopAll)
afterEach(async () => { await world?.close() })
afterAll(cleanupFixtures)

/** A project whose baseline trains "forever" and starts a setsid child, both marked. */
async function longRun (name: string, setsid: boolean): Promise<World> {
  const w = world = await hostileWorld(name)
  const train = await readFile(join(w.dir, 'train.py'), 'utf8')
  const child = setsid ? `import subprocess\nsubprocess.Popen(["setsid", "sleep", "${w.mark}"])\n` : ''
  await writeFile(join(w.dir, 'train.py'), train.replace(PAYLOAD_LINE, `${PAYLOAD_LINE}\n${child}time.sleep(60)`))
  const manifest = JSON.parse(await readFile(join(w.dir, 'swarm.json'), 'utf8'))
  await writeFile(join(w.dir, 'swarm.json'), JSON.stringify({ ...manifest, budget_s: 100, grace_s: 10, timeout_s: 200 }))
  return w
}

/** Waits (bounded) until `check` holds; returns whether it did. */
async function until (check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(50)
  }
  return await check()
}

const sleepers = async (w: World): Promise<string[]> => (await leftovers(w.mark)).filter(p => /^\d+: sleep /.test(p))

/** Starts the node on `w`, waits until its baseline run is training (its child is up), then kill -9. */
async function killMidRun (w: World, name: string, env: NodeJS.ProcessEnv = {}, known: string[] = []): Promise<Trainer> {
  const t = await startTrainer(name, { dir: w.dir, home: w.home, offline: true, proposer: 'none', env: { ...w.env, ...env } })
  await t.proc.waitFor(e => e.type === 'experiment-start', 30_000, 'the baseline run')
  expect(await until(async () => (await sleepers(w)).some(p => !known.includes(p)), 20_000), 'the run is up').toBe(true)
  t.proc.child.kill('SIGKILL')
  await t.proc.exited
  return t
}

describe('no run outlives a killed node', () => {
  it('kill -9 mid-run, ten times in a row: no training process is left behind (sandbox)', async () => {
    const w = await longRun('orphans', true)
    for (let i = 1; i <= 10; i++) {
      await killMidRun(w, `K${i}`)
      // The kernel does it, not the next start: gone within moments of the kill.
      expect(await until(async () => (await leftovers(w.mark)).length === 0, 5000), `try ${i}: ${(await leftovers(w.mark)).join('; ')}`).toBe(true)
    }
  }, 240_000)

  it('without a sandbox: the run dies with the node, and a setsid escapee at the next start', async () => {
    const w = await longRun('orphans-bare', true)
    const bare = { SWARM_BWRAP: 'none' }
    const pidOf = (line: string): number => Number(line.split(':')[0])
    const escaped: number[] = []
    let limits = ''
    for (let i = 1; i <= 2; i++) {
      const t = await killMidRun(w, `B${i}`, bare, await sleepers(w))
      const sandbox = t.proc.events.find(e => e.type === 'sandbox')!
      expect(sandbox.confined).toBe(false)
      limits = sandbox.limits
      // The training process (python3 train.py <mark>) goes with the node, by its parent-death signal.
      expect(await until(async () => (await leftovers(w.mark)).every(p => !p.includes('python3')), 5000), `try ${i}: ${(await leftovers(w.mark)).join('; ')}`).toBe(true)
      escaped.push(...(await leftovers(w.mark)).map(pidOf).filter(p => !escaped.includes(p)))
    }
    try {
      // The next start kills what escaped the group, from the runs' own cgroups.
      const next = await startTrainer('B-next', { dir: w.dir, home: w.home, offline: true, proposer: 'none', env: { ...w.env, ...bare } })
      await next.proc.waitFor(e => e.type === 'experiment-start', 30_000, 'the next start')
      if (limits === 'cgroup' || limits === 'systemd') {
        expect(escaped.length).toBeGreaterThan(0)
        const reaped = next.proc.events.filter(e => e.type === 'log' && /killed \d+ process/.test(String(e.message)))
        expect(reaped.length, 'the start says what it killed').toBeGreaterThan(0)
        const alive = (await leftovers(w.mark)).map(pidOf)
        expect(escaped.filter(p => alive.includes(p))).toEqual([])
      }
      expect(await next.proc.stop()).toBe(0)
      expect(await until(async () => (await leftovers(w.mark)).every(p => escaped.includes(pidOf(p))), 5000), (await leftovers(w.mark)).join('; ')).toBe(true)
    } finally {
      // Where only prlimit holds, a setsid child outlives the node: documented, and cleaned up here.
      for (const p of escaped) { try { process.kill(p, 'SIGKILL') } catch {} }
    }
  }, 240_000)
})
