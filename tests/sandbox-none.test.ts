/**
 * A node where no sandbox can run (here: SWARM_BWRAP=none, as on a machine
 * without bubblewrap or user namespaces) says so in one line at start and runs
 * only what it wrote itself: the LLM is never asked, a peer's kept result is
 * never queued, the mutation proposer makes every experiment. With
 * --unsafe-no-sandbox it warns, and then runs both.
 *
 * And where the sandbox works, the project's policy refuses an obviously
 * dangerous candidate (a peer's, an LLM's) before it runs, with a reason that
 * reaches the record and the log.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { contentHash, signMessage, type ResultMsg } from '../protocol/index.ts'
import { detectHardware, trackFor } from '../trainer/hardware.ts'
import { loadProject } from '../trainer/project.ts'
import { runCli } from './helpers/cli-run.ts'
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai.ts'
import { searchReplace } from './helpers/llm-replies.ts'
import { FIXTURES, cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { PAYLOAD_LINE, cagedTrain, honestFigure, hostileWorld, withPayload, type World } from './helpers/hostile-cases.ts'
import { resultFor, startRawPeer, startTrainer, stopAll, type RawPeer } from './helpers/swarm-procs.ts'

let world: World | undefined
let server: FakeOpenAI | undefined
afterEach(stopAll)
afterEach(async () => { await world?.close(); await server?.close() })
afterAll(cleanupFixtures)

/** A raw peer that serves one kept result (by its own key) for the world's project, and the result's id. */
async function peerOffering (w: World, train: string, claim: number): Promise<{ raw: RawPeer, author: string }> {
  const project = (await loadProject(w.dir)).id
  const track = trackFor(await detectHardware())
  const raw = await startRawPeer('R', { project, bootstrap: [] })
  const files = { 'train.py': train }
  await raw.proc.ask({ cmd: 'serve', files }, 10_000)
  const key = await generateKeyPair('Ed25519')
  const signed: ResultMsg = await signMessage(resultFor({ project, track, parent: contentHash({ 'train.py': await cagedTrain() }), child: contentHash(files), val_bpb: claim }), key)
  await raw.proc.ask({ cmd: 'store', message: signed }, 10_000)
  return { raw, author: signed.author }
}

describe('without a usable sandbox', () => {
  it('refuses adoption and LLM candidates and says why; --unsafe-no-sandbox runs them, with a warning', async () => {
    const w = world = await hostileWorld('none')
    const honest = (await cagedTrain()).replace('LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02')
    const { raw, author } = await peerOffering(w, honest, honestFigure({ lr: 0.02 }))
    // Content is prefetched in the background, so the LLM's first candidate may run before the peer's result does:
    // it gains nothing (a kept gain would make the peer's claim "far beyond" what this node has verified), and the LLM has a reply for each turn.
    const s = server = await startFakeOpenAI([
      { reply: `DESCRIPTION: narrower window\n\n${searchReplace('WINDOW = 128', 'WINDOW = 64')}` },
      { reply: `DESCRIPTION: narrower still\n\n${searchReplace('WINDOW = 128', 'WINDOW = 32')}` },
      { reply: `DESCRIPTION: wider window\n\n${searchReplace('WINDOW = 128', 'WINDOW = 256')}` }
    ])
    const flags = ['--llm-base-url', s.url, '--model', 'fake-coder', '--max-repairs', '0', '--seed', '5']
    const env = { ...w.env, SWARM_BWRAP: 'none' }

    const a = await startTrainer('N', { dir: w.dir, home: w.home, bootstrap: [raw.addr], confirm: false, env, extraArgs: flags })
    const line = a.proc.events.find(e => e.type === 'sandbox')!
    expect(line).toMatchObject({ confined: false, unsafe: false })
    expect(line.line).toMatch(/^sandbox: none \(turned off by SWARM_BWRAP=none\): only this node's own mutation candidates run; no adoption, no LLM or agent candidates \(--unsafe-no-sandbox runs them unconfined\)$/)
    expect(a.proc.events.find(e => e.type === 'session')!.proposer).toBe('mutation')
    await a.proc.waitFor(e => e.type === 'swarm:synced', 30_000, 'the peer\'s result arrives')
    const synced = a.proc.events.length
    await a.proc.waitFor(e => e.type === 'experiment-end' && e.record.status !== 'baseline', 30_000, 'an experiment after the peer\'s result arrived', synced)
    expect(await a.proc.stop()).toBe(0)
    const records = a.proc.filter(e => e.type === 'experiment-end').map(e => e.record)
    expect(records.length).toBeGreaterThanOrEqual(2)
    expect(new Set(records.slice(1).map(r => r.proposer))).toEqual(new Set(['mutation']))
    expect(records.filter(r => r.origin != null)).toEqual([])
    expect(a.proc.filter(e => e.type === 'swarm:adoption-queued')).toEqual([])
    expect(s.chats()).toEqual([])

    // Same machine, same project (a fresh checkout of it, so N's keeps do not decide what runs next), --unsafe-no-sandbox: warned, and both run.
    const fresh = await tempDir('none-unsafe')
    const dir = join(fresh, 'caged')
    await cp(join(FIXTURES, 'caged'), dir, { recursive: true })
    await writeFile(join(dir, 'swarm.json'), await readFile(join(w.dir, 'swarm.json')))
    const home = join(fresh, 'node-home')
    const b = await startTrainer('U', { dir, home, bootstrap: [raw.addr], confirm: false, env, extraArgs: [...flags, '--unsafe-no-sandbox'] })
    expect(b.proc.events.find(e => e.type === 'sandbox')!.line).toMatch(/^WARNING: --unsafe-no-sandbox: no sandbox here \(turned off by SWARM_BWRAP=none\); code from peers, the LLM and the agent runs with your full rights/)
    expect(b.proc.events.find(e => e.type === 'session')!.proposer).toBe('llm:fake-coder')
    const adopted = await b.proc.waitFor(e => e.type === 'experiment-end' && e.record.origin?.author === author, 30_000, 'the peer\'s result reproduced')
    expect(adopted.record).toMatchObject({ status: 'keep', val_bpb: honestFigure({ lr: 0.02 }) })
    const llm = await b.proc.waitFor(e => e.type === 'experiment-end' && e.record.proposer === 'llm:fake-coder', 30_000, 'the LLM\'s candidate run')
    expect(llm.record.description).toBe('narrower window')
    expect(s.chats().length).toBeGreaterThanOrEqual(1)
    // `status` says it too, with the limits in force.
    const status = await runCli(['--home', home, '--json', 'status'])
    expect(JSON.parse(status.stdout).sandbox).toMatchObject({ confined: false, unsafe: true, limits: expect.stringMatching(/^(cgroup|systemd|prlimit|none)$/) })
    const text = await runCli(['--home', home, 'status'])
    expect(text.stdout).toMatch(/^sandbox {3}WARNING: --unsafe-no-sandbox: no sandbox here/m)
    expect(await b.proc.stop()).toBe(0)
  }, 150_000)
})

describe('the project\'s policy, where the sandbox works', () => {
  it('refuses a peer\'s and an LLM\'s dangerous candidate before it runs, with the reason in the record and the log', async () => {
    const w = world = await hostileWorld('policy')
    const manifest = JSON.parse(await readFile(join(w.dir, 'swarm.json'), 'utf8'))
    await writeFile(join(w.dir, 'swarm.json'), JSON.stringify({ ...manifest, policy: true }))
    const base = await cagedTrain()
    const peerFile = withPayload(base, 'import subprocess\nsubprocess.run(["sh", "-c", "cat ~/.ssh/id_rsa > ../../stolen"])')
    const { raw, author } = await peerOffering(w, peerFile, 0.9)
    const s = server = await startFakeOpenAI([{ reply: `DESCRIPTION: faster\n\n${searchReplace(PAYLOAD_LINE, `${PAYLOAD_LINE}\nos.system("cat ~/.ssh/id_rsa > ../../stolen")`)}` }])

    const p = await startTrainer('P', { dir: w.dir, home: w.home, bootstrap: [raw.addr], confirm: false, env: w.env, extraArgs: ['--llm-base-url', s.url, '--model', 'fake-coder', '--max-repairs', '0'] })
    expect(p.proc.events.find(e => e.type === 'sandbox')!.confined).toBe(true)
    const adopted = await p.proc.waitFor(e => e.type === 'experiment-end' && e.record.origin?.author === author, 30_000, 'the peer\'s result refused')
    expect(adopted.record.status).toBe('invalid')
    expect(adopted.record.reason).toMatch(/^refused by the project's policy before running: train\.py:\d+ imports subprocess \(process\); train\.py:\d+ uses subprocess \(process\)/)
    expect(adopted.record.metrics.run_seconds).toBe(0)
    const llm = await p.proc.waitFor(e => e.type === 'experiment-end' && e.record.proposer === 'llm:fake-coder', 30_000, 'the LLM\'s candidate refused')
    expect(llm.record).toMatchObject({ status: 'invalid', description: 'faster' })
    expect(llm.record.reason).toMatch(/train\.py:\d+ calls os\.system \(process\)/)
    const logged = p.proc.filter(e => e.type === 'log' && /^candidate refused: refused by the project's policy/.test(String(e.message)))
    expect(logged.length).toBeGreaterThanOrEqual(2)
    // Nothing ran: the run log still holds the last honest run's summary.
    expect(await readFile(join(w.dir, 'run.log'), 'utf8')).not.toMatch(/stolen/)
    expect(await p.proc.stop()).toBe(0)
  }, 120_000)
})
