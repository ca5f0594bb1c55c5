/**
 * The CLI's side of the control API: find the node running with a home (its
 * `control.json`, a live pid, an answer on the port) and ask it questions.
 */
import { CLIENT_TIMEOUT_MS, CONTROL_HOST, EXIT_NO_NODE } from './constants.ts'
import { controlPath, pidAlive, readControlFile } from './control-file.ts'

/** No node runs with this home; `code` is the exit status commands use. */
export class NoNodeRunning extends Error {
  override readonly name = 'NoNodeRunning'
  readonly exitCode = EXIT_NO_NODE
}

export class ControlClient {
  readonly url: string
  constructor (readonly home: string, readonly port: number, private readonly token: string, readonly pid: number) {
    this.url = `http://${CONTROL_HOST}:${port}`
  }

  /** The dashboard link (with the token: it is printed only to whoever can read the home). */
  get dashboard (): string { return `${this.url}/?token=${this.token}` }

  async get<T> (path: string, params: Record<string, string | number | undefined> = {}, timeoutMs = CLIENT_TIMEOUT_MS): Promise<T> {
    const url = new URL(path, this.url)
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v))
    let res: Response
    try {
      res = await fetch(url, { headers: { Authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(timeoutMs) })
    } catch (err: any) {
      if (err?.name === 'TimeoutError') throw new Error(`the node (pid ${this.pid}) did not answer ${path} within ${timeoutMs / 1000} s`)
      throw new NoNodeRunning(`the node (pid ${this.pid}) does not answer on ${this.url} (${String(err?.cause?.code ?? err?.message)}): is it stopping? Start one with \`npx swarm-node start\``)
    }
    const body = await res.json().catch(() => null) as (T & { error?: string }) | null
    if (res.status === 401) throw new Error(`the node refused our token: ${controlPath(this.home)} changed under us; try again`)
    if (!res.ok || body == null) throw new Error(`the node answered ${res.status}: ${body?.error ?? 'no JSON'}`)
    return body
  }
}

/** The node running with `home`, or null (no control file, or one a dead process left). */
export async function findNode (home: string): Promise<ControlClient | null> {
  const info = await readControlFile(home)
  if (info == null || !pidAlive(info.pid)) return null
  return new ControlClient(home, info.port, info.token, info.pid)
}

export async function requireNode (home: string): Promise<ControlClient> {
  const node = await findNode(home)
  if (node == null) throw new NoNodeRunning(`no node is running with the home ${home}: start one with \`npx swarm-node start\` (or pass the --home it runs with)`)
  return node
}
