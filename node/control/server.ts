/**
 * The running node's control API: HTTP on 127.0.0.1 only, every request
 * authenticated by the token in `<home>/control.json` (mode 0600), serving
 * JSON for the CLI (`status`, `peers`, `results`, `leaderboard`), the live
 * feed as Server-Sent Events, and the dashboard page.
 *
 * @example
 * ```ts
 * const control = await startControlServer({ home, source: view, feed })
 * console.log(control.dashboard)   // http://127.0.0.1:PORT/?token=…
 * await control.stop()             // closes streams, removes control.json
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadAssets, type Asset } from '../dashboard/assets.ts'
import { allowedHost, newToken, presentedToken, sameToken, tokenCookie } from './auth.ts'
import { CONTROL_HOST, MAX_SSE_CLIENTS } from './constants.ts'
import { controlPath, pidAlive, readControlFile, removeControlFile, writeControlFile } from './control-file.ts'
import type { Feed } from './feed.ts'
import { BadRequest, answer, type ControlSource } from './routes.ts'
import { serveEvents } from './sse.ts'
import { safeJson } from '../sanitize.ts'

export type { ControlSource } from './routes.ts'

export interface ControlServerInit {
  home: string
  source: ControlSource
  feed: Feed
  /** 0 (default): a free port. */
  port?: number
}

export interface ControlServer {
  port: number
  url: string
  token: string
  /** The page's address with the token, for the operator to open once. */
  dashboard: string
  stop: () => Promise<void>
}

export class ControlError extends Error {
  override readonly name = 'ControlError'
}

// The page and its scripts come only from us; nothing else may load or frame it.
const HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

function send (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...HEADERS, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra })
  res.end(body)
}

const json = (res: ServerResponse, status: number, value: unknown): void => { send(res, status, 'application/json; charset=utf-8', safeJson(value)) }

const NOT_AUTHORISED = 'this is a swarm-node control API: it needs the token in <home>/control.json. Open the dashboard link that `npx swarm-node status` prints.'

/** Refuses to start over a live node of the same home: two nodes would share one identity. */
async function claimHome (home: string): Promise<void> {
  const other = await readControlFile(home)
  if (other != null && other.pid !== process.pid && pidAlive(other.pid)) {
    throw new ControlError(`another node (pid ${other.pid}) is running with the home ${home}: stop it first, or use another --home (if none runs, delete ${controlPath(home)})`)
  }
}

export async function startControlServer (init: ControlServerInit): Promise<ControlServer> {
  await claimHome(init.home)
  const assets = await loadAssets()
  const token = newToken()
  const streams = new Set<() => void>()
  let port = 0

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowedHost(req, port)) { send(res, 403, 'text/plain; charset=utf-8', 'wrong Host: use http://127.0.0.1:' + port + '/\n'); return }
    const url = new URL(req.url ?? '/', `http://${CONTROL_HOST}:${port}`)
    if (req.method !== 'GET' && req.method !== 'HEAD') { send(res, 405, 'text/plain; charset=utf-8', 'read-only API: GET only\n', { Allow: 'GET, HEAD' }); return }
    // The one place the token may come in a URL: swapped for a cookie, then dropped from the address bar.
    if (url.pathname === '/' && url.searchParams.has('token')) {
      if (!sameToken(url.searchParams.get('token') ?? undefined, token)) { send(res, 401, 'text/plain; charset=utf-8', `wrong token: ${NOT_AUTHORISED}\n`); return }
      send(res, 303, 'text/plain; charset=utf-8', 'see /\n', { Location: '/', 'Set-Cookie': tokenCookie(port, token) })
      return
    }
    if (!sameToken(presentedToken(req, port), token)) {
      if (url.pathname.startsWith('/api/')) json(res, 401, { error: NOT_AUTHORISED })
      else send(res, 401, 'text/plain; charset=utf-8', NOT_AUTHORISED + '\n')
      return
    }
    if (url.pathname === '/' || url.pathname.startsWith('/assets/')) {
      const asset: Asset | undefined = assets.get(url.pathname === '/' ? 'index.html' : url.pathname.slice('/assets/'.length))
      if (asset == null) { send(res, 404, 'text/plain; charset=utf-8', 'no such file\n'); return }
      send(res, 200, asset.type, asset.body)
      return
    }
    if (url.pathname === '/api/events') {
      if (streams.size >= MAX_SSE_CLIENTS) { json(res, 503, { error: `at most ${MAX_SSE_CLIENTS} event streams at once` }); return }
      const close = serveEvents(req, res, init.feed, HEADERS)
      streams.add(close)
      res.on('close', () => streams.delete(close))
      return
    }
    const abort = new AbortController()
    res.on('close', () => { abort.abort() })
    try {
      const body = await answer(init.source, url.pathname, url.searchParams, abort.signal)
      if (body === undefined) json(res, 404, { error: `no route ${url.pathname}` })
      else json(res, 200, body)
    } catch (err: any) {
      if (res.headersSent) return
      json(res, err instanceof BadRequest ? 400 : 500, { error: String(err?.message ?? err) })
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => { if (!res.headersSent) res.writeHead(500).end() })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, CONTROL_HOST, () => { server.off('error', reject); resolve() })
  })
  port = (server.address() as AddressInfo).port
  try {
    await writeControlFile(init.home, { port, token, pid: process.pid })
  } catch (err) {
    server.close()
    throw err
  }

  let stopping: Promise<void> | null = null
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      await removeControlFile(init.home).catch(() => {})
      for (const close of [...streams]) close()
      await new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
    })()
    await stopping
  }
  const url = `http://${CONTROL_HOST}:${port}`
  return { port, url, token, dashboard: `${url}/?token=${token}`, stop }
}
