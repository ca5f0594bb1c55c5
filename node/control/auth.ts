/**
 * Who may use the control API: whoever can read the token in the node home.
 * The CLI sends it as `Authorization: Bearer <token>`; a browser opens
 * `/?token=<token>` once and gets it back as an HttpOnly, SameSite=Strict
 * cookie, so the page and its event stream authenticate without the token in
 * every URL. The Host header must name the loopback address we listen on,
 * which defeats DNS rebinding (a web page that resolves its own name to
 * 127.0.0.1 still sends its own name as Host).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { TOKEN_BYTES } from './constants.ts'

export function newToken (): string {
  return randomBytes(TOKEN_BYTES).toString('hex')
}

/** Constant-time comparison, so the answer time does not leak how much of a guess was right. */
export function sameToken (given: string | undefined, token: string): boolean {
  if (given == null) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Cookies ignore ports: the name carries ours so two nodes on one machine keep their own. */
export const cookieName = (port: number): string => `swarm_node_${port}`

export function tokenCookie (port: number, token: string): string {
  return `${cookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`
}

function cookie (req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** The token a request carries, from the Authorization header or our cookie. */
export function presentedToken (req: IncomingMessage, port: number): string | undefined {
  const auth = req.headers.authorization
  if (auth?.startsWith('Bearer ') === true) return auth.slice(7).trim()
  return cookie(req, cookieName(port))
}

export function allowedHost (req: IncomingMessage, port: number): boolean {
  const host = req.headers.host
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`
}
