/**
 * The control API on its own, with a fake node behind it: the control file
 * (mode 0600, removed on stop, a stale one ignored), the token (no token, a
 * wrong one, a wrong Host are refused), the browser's token-for-cookie swap,
 * the event stream, query checks, and the client the CLI uses.
 */
import { spawnSync } from 'node:child_process'
import { request } from 'node:http'
import { readFile, stat } from 'node:fs/promises'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ControlClient, NoNodeRunning, findNode, requireNode } from '../node/control/client.ts'
import { controlPath, readControlFile, writeControlFile } from '../node/control/control-file.ts'
import { Feed } from '../node/control/feed.ts'
import { ControlError, startControlServer, type ControlServer, type ControlSource } from '../node/control/server.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

const source: ControlSource = {
  state: () => ({ peerId: '12D3KooWfake', project: { id: 'a'.repeat(64), name: 'p', dir: '/x' } }),
  peers: () => [{ peer: '12D3KooWother', addrs: ['/ip4/127.0.0.1/tcp/1'], direction: 'inbound', status: null, trust: 0 }],
  results: f => [{ id: 'main-1', seq: 1, status: f.status ?? 'baseline', limit: f.limit ?? null }],
  swarmResults: () => [],
  leaderboard: async q => ({ source: 'node', project: q.project ?? 'a'.repeat(64), rows: [], track: q.track ?? null })
}

const servers: ControlServer[] = []
afterEach(async () => { for (const s of servers.splice(0)) await s.stop() })
afterAll(cleanupFixtures)

async function serve (): Promise<{ home: string, server: ControlServer, feed: Feed }> {
  const home = await tempDir('control')
  const feed = new Feed()
  const server = await startControlServer({ home, source, feed })
  servers.push(server)
  return { home, server, feed }
}

/** A raw GET, so tests can set Host and read headers fetch hides. */
async function get (port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number, headers: Record<string, any>, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, timeout: 5000 }, res => {
      let body = ''
      res.on('data', d => { body += String(d) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

describe('control server', () => {
  it('writes control.json (0600) with port, token and pid, listens on loopback, removes it on stop', async () => {
    const { home, server } = await serve()
    const info = await readControlFile(home)
    expect(info).toEqual({ port: server.port, token: server.token, pid: process.pid })
    expect(server.token).toMatch(/^[0-9a-f]{64}$/)
    expect((await stat(controlPath(home))).mode & 0o777).toBe(0o600)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
    await server.stop()
    await expect(readFile(controlPath(home))).rejects.toThrow(/ENOENT/)
  })

  it('refuses requests without the token, with a wrong one, or with a foreign Host', async () => {
    const { server } = await serve()
    const host = `127.0.0.1:${server.port}`
    expect((await get(server.port, '/api/status', { Host: host })).status).toBe(401)
    expect((await get(server.port, '/', { Host: host })).status).toBe(401)
    expect((await get(server.port, '/api/status', { Host: host, Authorization: `Bearer ${'0'.repeat(64)}` })).status).toBe(401)
    expect((await get(server.port, '/api/status', { Host: host, Cookie: `swarm_node_${server.port}=nope` })).status).toBe(401)
    expect((await get(server.port, '/?token=nope', { Host: host })).status).toBe(401)
    // DNS rebinding: the right token but someone else's name.
    expect((await get(server.port, '/api/status', { Host: `evil.example:${server.port}`, Authorization: `Bearer ${server.token}` })).status).toBe(403)
    expect((await get(server.port, '/api/status', { Host: host, Authorization: `Bearer ${server.token}` }, 'POST')).status).toBe(405)
    const ok = await get(server.port, '/api/status', { Host: host, Authorization: `Bearer ${server.token}` })
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body).peerId).toBe('12D3KooWfake')
    expect(ok.headers['content-security-policy']).toContain("script-src 'self'")
  })

  it('swaps the token in the dashboard link for an HttpOnly cookie that opens the page and its assets', async () => {
    const { server } = await serve()
    const host = `127.0.0.1:${server.port}`
    const swap = await get(server.port, `/?token=${server.token}`, { Host: host })
    expect(swap.status).toBe(303)
    expect(swap.headers.location).toBe('/')
    const cookie = String(swap.headers['set-cookie']?.[0]).split(';')[0]!
    expect(String(swap.headers['set-cookie']?.[0])).toMatch(/HttpOnly; SameSite=Strict/)
    const page = await get(server.port, '/', { Host: host, Cookie: cookie })
    expect(page.status).toBe(200)
    expect(page.body).toContain('<script src="/assets/app.js">')
    for (const asset of ['app.js', 'chart.js', 'style.css']) expect((await get(server.port, `/assets/${asset}`, { Host: host, Cookie: cookie })).status).toBe(200)
    expect((await get(server.port, '/assets/../server.ts', { Host: host, Cookie: cookie })).status).toBe(404)
    expect((await get(server.port, '/api/nothing', { Host: host, Cookie: cookie })).status).toBe(404)
  })

  it('checks query parameters and passes typed filters on', async () => {
    const { server, home } = await serve()
    const c = await requireNode(home)
    expect(await c.get('/api/results', { status: 'keep', limit: 5 })).toEqual({ records: [{ id: 'main-1', seq: 1, status: 'keep', limit: 5 }] })
    await expect(c.get('/api/results', { status: 'great' })).rejects.toThrow(/400.*status must be/)
    await expect(c.get('/api/leaderboard', { project: 'not-hex' })).rejects.toThrow(/400.*64-hex/)
    await expect(c.get('/api/leaderboard', { limit: 1000 })).rejects.toThrow(/400.*limit/)
    expect(await c.get('/api/leaderboard', { track: 'gpu-h100' })).toMatchObject({ track: 'gpu-h100' })
    expect(c.dashboard).toBe(server.dashboard)
  })

  it('streams the feed: kept events first (after Last-Event-ID), then live ones', async () => {
    const { server, feed } = await serve()
    const open = async (headers: Record<string, string> = {}): Promise<{ text: () => string, until: (needle: string) => Promise<void>, close: () => Promise<void>, type: string | null }> => {
      const res = await fetch(`${server.url}/api/events`, { headers: { Authorization: `Bearer ${server.token}`, ...headers } })
      const reader = res.body!.getReader()
      let text = ''
      const until = async (needle: string): Promise<void> => {
        const deadline = AbortSignal.timeout(5000)
        while (!text.includes(needle)) {
          const next = await Promise.race([reader.read(), new Promise<never>((_resolve, reject) => deadline.addEventListener('abort', () => { reject(new Error(`no ${needle} in ${text}`)) }))])
          text += new TextDecoder().decode(next.value)
        }
      }
      return { text: () => text, until, close: async () => { await reader.cancel() }, type: res.headers.get('content-type') }
    }
    feed.publish('experiment-end', { record: { seq: 1 } })
    feed.publish('progress', { seq: 2 }, false)
    const a = await open()
    expect(a.type).toMatch(/text\/event-stream/)
    await a.until('"seq":1')
    expect(a.text()).toMatch(/id: 1\nevent: experiment-end/)
    expect(a.text()).not.toContain('"seq":2')
    feed.publish('swarm', { event: { type: 'received', kind: 'result' } })
    await a.until('event: swarm')
    expect(a.text()).toMatch(/id: 3\nevent: swarm/)
    const b = await open({ 'Last-Event-ID': '1' })
    await b.until('id: 3')
    expect(b.text()).not.toContain('id: 1\n')
    await a.close()
    await b.close()
  })

  it('refuses to serve a home another live node holds, and ignores a stale control file', async () => {
    const home = await tempDir('control')
    await writeControlFile(home, { port: 1, token: 'ab'.repeat(32), pid: process.ppid })
    await expect(startControlServer({ home, source, feed: new Feed() })).rejects.toThrow(ControlError)
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!
    await writeControlFile(home, { port: 1, token: 'ab'.repeat(32), pid: dead })
    expect(await findNode(home)).toBeNull()
    await expect(requireNode(home)).rejects.toMatchObject({ name: 'NoNodeRunning', exitCode: 3, message: expect.stringMatching(/swarm-node start/) })
    const server = await startControlServer({ home, source, feed: new Feed() })
    servers.push(server)
    expect((await readControlFile(home))?.pid).toBe(process.pid)
  })

  it('says no node runs when the file names a live process that does not answer', async () => {
    const c = new ControlClient('/nowhere', 1, 'ab'.repeat(32), process.pid)
    await expect(c.get('/api/status')).rejects.toBeInstanceOf(NoNodeRunning)
  })
})
