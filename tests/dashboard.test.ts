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
