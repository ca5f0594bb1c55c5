/**
 * A peer that accepts fetch streams and never answers, against a researching
 * node (H, mutation proposer) on loopback: it publishes a dozen keeps that
 * claim better than H's baseline and serves none of their content. H's loop
 * takes only content that is already fetched and checked, so it never waits
 * on those fetches: the time from one experiment's end to the next one's
 * start stays under a second. The claims are dropped when their deadline
 * passes, and count against their author until H distrusts it.
 *
 * Content refused quickly (not served yet, a link that flapped) is asked for
 * again later: an honest author is not dropped for a blip.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { contentHash, type ResultMsg } from '../protocol/index.ts'
import { cleanupFixtures, fixtureCopy } from './helpers/fixtures.ts'
import {
  baselineDone, fixtureTrain, ms, rawHangFetch, rawPublishMessage, rawServe, rawSign, resultFor, startRawPeer, startTrainer, stopAll, untilSubscribed, type Ev
} from './helpers/swarm-procs.ts'

const FAKES = 12

afterEach(stopAll)
afterAll(cleanupFixtures)

describe('a peer whose fetches never answer', () => {
  it('costs the research loop under a second of idle per experiment', async () => {
    // Runs of 0.8 s: the fixture's three constants give the proposer a few dozen ideas, and the
    // stall lasts up to a minute, during which H must still have something to run.
    const dir = await fixtureCopy('autoresearch')
    const train = join(dir, 'train.py')
    await writeFile(train, (await readFile(train, 'utf8')).replace('sleep_s = 0.2', 'sleep_s = 0.8'))
    const h = await startTrainer('H', { dir, seed: 3, confirm: false })
    await h.proc.waitFor(baselineDone, 20_000, 'H baseline')
    const staller = await startRawPeer('staller', { project: h.project, bootstrap: [h.addr!] })
    await rawHangFetch(staller)
    await untilSubscribed(staller, [h.peerId])

    const parent = contentHash({ 'train.py': await fixtureTrain() })
    const from = h.proc.events.length
    for (let i = 0; i < FAKES; i++) {
      const child = contentHash({ 'train.py': await fixtureTrain(`fake ${i}`) })
      const fake = await rawSign<ResultMsg>(staller, resultFor({ project: h.project, track: h.track, parent, child, val_bpb: 0.9 - i * 0.001, description: `fake ${i}` }))
      expect(await rawPublishMessage(staller, fake)).toBeGreaterThan(0)
    }
    // H tries to fetch (and the staller holds the streams), gives up at the deadline, distrusts the staller.
    await staller.proc.waitFor(l => l.type === 'fetch-held', 15_000, { what: 'a fetch stream held open' })
    await h.proc.waitFor(e => e.type === 'swarm:adoption-dropped' && e.author === staller.peerId, 45_000, 'a claim dropped at its deadline', from)
    await h.proc.waitFor(e => e.type === 'swarm:trust' && e.peer === staller.peerId && e.distrusted === true, 45_000, 'the staller distrusted', from)
    const until = h.proc.events.length
    // A few more experiments with the staller's claims gone.
    await h.proc.waitFor(e => e.type === 'experiment-end', 20_000, 'an experiment after', until)
    await stopAll()

    // Every gap between an experiment's end and the next one's start, from the fakes' arrival on.
    const events = h.proc.events.slice(from)
    const gaps: number[] = []
    let lastEnd: Ev | null = null
    for (const e of events) {
      if (e.type === 'experiment-end') lastEnd = e
      if (e.type === 'experiment-start' && lastEnd != null) {
        gaps.push(ms(e) - ms(lastEnd))
        lastEnd = null
      }
    }
    const held = staller.proc.lines.filter(l => l.type === 'fetch-held').length
    const dropped = h.proc.filter(e => e.type === 'swarm:adoption-dropped').length
    const sorted = [...gaps].sort((x, y) => x - y)
    console.log(`stalled fetches: ${held} streams held, ${dropped} claims dropped; ${gaps.length} experiment boundaries while stalling, gap ms median ${sorted[sorted.length >> 1]} max ${sorted.at(-1)}`)
    expect(gaps.length).toBeGreaterThanOrEqual(5)
    expect(Math.max(...gaps)).toBeLessThan(1000)
    // Nothing of the staller's ran.
    expect(h.proc.filter(e => e.type === 'experiment-end' && e.record.origin?.author === staller.peerId)).toEqual([])
  }, 120_000)

  it('asks again for content it was refused, and runs it once it is served', async () => {
    const h = await startTrainer('H', { proposer: 'none', confirm: false })
    await h.proc.waitFor(baselineDone, 20_000, 'H baseline')
    const peer = await startRawPeer('late', { project: h.project, bootstrap: [h.addr!] })
    await untilSubscribed(peer, [h.peerId])
    const train = await fixtureTrain()
    const files = { 'train.py': train.replace('LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02') }
    const keep = await rawSign<ResultMsg>(peer, resultFor({ project: h.project, track: h.track, parent: contentHash({ 'train.py': train }), child: contentHash(files), val_bpb: 1.1128, description: 'lower lr' }))
    expect(await rawPublishMessage(peer, keep)).toBeGreaterThan(0)
    // Not served yet: the first round is refused at once.
    await peer.proc.waitFor(l => l.type === 'fetched' && l.found === false, 15_000, { what: 'a refused fetch' })
    await rawServe(peer, files)
    const run = await h.proc.waitFor(e => e.type === 'experiment-end' && e.record.origin?.author === peer.peerId, 60_000, 'the claim run once served')
    expect(run.record.status).toBe('keep')
    expect(h.proc.filter(e => e.type === 'swarm:adoption-dropped')).toEqual([])
  }, 120_000)
})
