/**
 * The dashboard in headless Chromium, served by a real `swarm-node start`
 * (A, researching) with a peer (B, a verifier): the page opens from the
 * link with the token, follows the live feed, shows a result A publishes
 * after the page loaded, draws the val_bpb chart, lists B and the
 * leaderboard, loads nothing from outside the node, and breaks no rule of its
 * own Content-Security-Policy. A screenshot lands in test-results/dashboard.png.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findNode } from '../node/control/client.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT } from './helpers/processes.ts'
import { startTrainer, type Trainer } from './helpers/swarm-procs.ts'

const CHROMIUM = '/usr/bin/chromium'
const SHOT = join(REPO_ROOT, 'test-results', 'dashboard.png')

let A: Trainer
let B: Trainer
let browser: BrowserContext | null = null

beforeAll(async () => {
  A = await startTrainer('A', { seed: 3, confirm: false })
  B = await startTrainer('B', { proposer: 'none', bootstrap: [A.addr!] })
  await B.proc.waitFor(e => e.type === 'experiment-end' && e.record.origin != null, 40_000, 'a reproduction by B')
  browser = await chromium.launchPersistentContext(await tempDir('chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 1000 },
    timeout: 30_000
  })
}, 80_000)

afterAll(async () => {
  await browser?.close()
  await Promise.all([A, B].filter(t => t != null).map(async t => await t.proc.stop(200)))
  await cleanupFixtures()
})

describe('dashboard', () => {
  it('shows a just-published result, the chart, peers and the leaderboard', async () => {
    const node = (await findNode(A.home))!
    const page = await browser!.newPage()
    const problems: string[] = []
    const requests: string[] = []
    page.on('pageerror', err => problems.push(`pageerror: ${err.message}`))
    page.on('console', msg => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`) })
    page.on('request', req => requests.push(req.url()))

    await page.goto(node.dashboard)
    expect(new URL(page.url()).pathname).toBe('/')
    expect(page.url()).not.toContain('token=')
    await page.waitForSelector('#conn.on', { timeout: 10_000 })

    // A result A publishes after the page is up arrives over the event stream.
    const from = A.proc.events.length
    const end = await A.proc.waitFor(e => e.type === 'experiment-end', 20_000, 'an experiment after the page loaded', from)
    const item = page.locator(`#feed li[data-type="experiment-end"][data-seq="${end.record.seq}"]`)
    await item.waitFor({ timeout: 5000 })
    expect(await item.textContent()).toContain(end.record.description)
    expect(await item.locator('.badge').textContent()).toBe(end.record.status)

    // The chart: this node's baseline steps, the swarm's best, a dot per experiment.
    const chart = page.locator(`#charts svg[data-track="${A.track}"]`)
    await chart.waitFor({ timeout: 5000 })
    expect(await chart.locator('path.my-baseline').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+/)
    expect(await chart.locator('path.swarm-best').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+/)
    await expect.poll(async () => await chart.locator('circle.pt').count(), { timeout: 5000 }).toBeGreaterThanOrEqual(end.record.seq)

    // Peers and the leaderboard.
    await page.locator(`#peers tr[data-peer="${B.peerId}"]`).waitFor({ timeout: 10_000 })
    await page.locator('#board tbody tr').first().waitFor({ timeout: 10_000 })
    // A's own keeps are measured by A (verified here); the one B reproduced shows B's attestation.
    const top = page.locator('#board tbody tr').first()
    expect(await top.locator('td').nth(3).textContent()).toBe('verified here')
    await expect.poll(async () => await page.locator('#board tbody tr td:nth-child(6)').allTextContents(), { timeout: 10_000 }).toContainEqual(expect.stringMatching(/^[1-9]\d*$/))
    expect(await page.locator('#baseline').textContent()).toMatch(/^\d\.\d{6}$/)

    await mkdir(join(REPO_ROOT, 'test-results'), { recursive: true })
    await page.screenshot({ path: SHOT, fullPage: true })
    expect(problems).toEqual([])
    expect(requests.every(u => u.startsWith(node.url + '/'))).toBe(true)
  }, 60_000)

  it('draws this node\'s baseline in time order: it only steps down, and ends at the current baseline, with records arriving out of order', async () => {
    const node = (await findNode(A.home))!
    // One consistent moment of A: its records and the baseline they lead to.
    type Rec = { id: string, seq: number, status: string, finished_at: number }
    let snap: { records: Rec[], baseline: number } | null = null
    for (let i = 0; i < 20 && snap == null; i++) {
      const before = await node.get<{ baseline: { value: number }, experiments: number }>('/api/status')
      const { records } = await node.get<{ records: Rec[] }>('/api/results')
      const after = await node.get<{ baseline: { value: number }, experiments: number }>('/api/status')
      if (before.experiments === after.experiments && before.baseline.value === after.baseline.value) snap = { records, baseline: after.baseline.value }
    }
    expect(snap!.records.filter(r => r.status === 'keep').length, 'A has kept something').toBeGreaterThanOrEqual(1)
    // Records reach the page out of order: the live feed replays them newest first and
    // scrambled, and the history answer comes later, backwards. Everything else is the real node.
    const scrambled = [...snap!.records].reverse()
    scrambled.push(scrambled.splice(Math.floor(scrambled.length / 2), 1)[0]!)
    const page = await browser!.newPage()
    await page.route(/\/api\/events(\?|$)/, async route => {
      const body = 'retry: 60000\n\n' + scrambled.map((r, i) => `id: ${i + 1}\nevent: experiment-end\ndata: ${JSON.stringify({ id: i + 1, type: 'experiment-end', time: Date.now(), record: r })}\n\n`).join('')
      await route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' }, body })
    })
    await page.route(/\/api\/results(\?|$)/, async route => {
      await new Promise(resolve => setTimeout(resolve, 500))
      await route.fulfill({ status: 200, json: { records: [...snap!.records].reverse() } })
    })
    await page.goto(node.dashboard)
    const chart = page.locator(`#charts svg[data-track="${A.track}"]`)
    await chart.waitFor({ timeout: 30_000 })
    await expect.poll(async () => await chart.locator('circle.pt').count(), { timeout: 10_000 }).toBe(snap!.records.filter(r => (r as any).track === A.track).length)
    await page.waitForTimeout(800) // the history answer has landed and the chart redrawn

    // The chart's own scale, read from its first and last axis labels: y pixel -> val_bpb.
    const d = await chart.locator('path.my-baseline').getAttribute('d') ?? ''
    const ticks = await chart.locator('text[text-anchor="end"]').evaluateAll(els => els.map(e => [Number(e.getAttribute('y')) - 4, Number(e.textContent)] as [number, number]))
    const [[y0, v0], [y1, v1]] = [ticks[0]!, ticks[ticks.length - 1]!]
    const perPixel = (v1 - v0) / (y1 - y0)
    const value = (y: number): number => v0 + (y - y0) * perPixel
    // M x,y, then H x V y pairs, then a last H: the vertices of the step line.
    const points: Array<[number, number]> = []
    for (const [, op, a, b] of d.matchAll(/([MHV])([\d.]+)(?:,([\d.]+))?/g)) {
      if (op === 'M') points.push([Number(a), Number(b)])
      else if (op === 'H') points.push([Number(a), points.at(-1)![1]])
      else points.push([points.at(-1)![0], Number(a)])
    }
    expect(points.length).toBeGreaterThanOrEqual(4)
    for (let i = 1; i < points.length; i++) {
      const [[xa, ya], [xb, yb]] = [points[i - 1]!, points[i]!]
      expect(xb, `vertex ${i} goes back in time`).toBeGreaterThanOrEqual(xa - 0.01)
      // Lower val_bpb is further down the screen: the line never goes up.
      expect(yb, `vertex ${i} steps up: ${value(ya).toFixed(4)} -> ${value(yb).toFixed(4)}`).toBeGreaterThanOrEqual(ya - 0.01)
    }
    expect(points.at(-1)![1], 'the line went down at least once').toBeGreaterThan(points[0]![1])
    expect(Math.abs(value(points.at(-1)![1]) - snap!.baseline), 'it ends at the current baseline').toBeLessThanOrEqual(Math.abs(perPixel) * 0.3)
    await page.close()
  }, 60_000)

  it('refuses a page opened without the token', async () => {
    const node = (await findNode(A.home))!
    const page = await (await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })).newPage()
    try {
      const res = await page.goto(`${node.url}/`)
      expect(res?.status()).toBe(401)
      expect(await page.textContent('body')).toMatch(/swarm-node status/)
    } finally {
      await page.context().browser()?.close()
    }
  }, 30_000)
})
