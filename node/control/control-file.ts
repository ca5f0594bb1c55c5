/**
 * `<home>/control.json`: where a running node's control API listens, its
 * token and its pid. Written mode 0600 (the token is the only key to the API),
 * removed on a clean stop; a file left by a killed node is stale, recognised
 * by its pid no longer being alive.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs-util.ts'
import { CONTROL_FILE } from './constants.ts'

export interface ControlInfo {
  port: number
  token: string
  pid: number
}

export const controlPath = (home: string): string => join(home, CONTROL_FILE)

export async function writeControlFile (home: string, info: ControlInfo): Promise<void> {
  await writeFileAtomic(controlPath(home), JSON.stringify(info) + '\n', 0o600)
}

/** The file's content, or null when absent or not ours (a torn or foreign file counts as absent). */
export async function readControlFile (home: string): Promise<ControlInfo | null> {
  let text: string
  try {
    text = await readFile(controlPath(home), 'utf8')
  } catch (err: any) {
    if (err?.code === 'ENOENT') return null
    throw err
  }
  try {
    const v = JSON.parse(text) as Partial<ControlInfo>
    if (Number.isInteger(v.port) && Number.isInteger(v.pid) && typeof v.token === 'string' && /^[0-9a-f]{16,}$/.test(v.token)) {
      return { port: v.port!, token: v.token, pid: v.pid! }
    }
  } catch {}
  return null
}

/** Removes the file only if it still names `pid`: a newer node's file is not ours to remove. */
export async function removeControlFile (home: string, pid = process.pid): Promise<void> {
  const info = await readControlFile(home).catch(() => null)
  if (info != null && info.pid !== pid) return
  await rm(controlPath(home), { force: true })
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    // EPERM: it exists but belongs to someone else.
    return err?.code === 'EPERM'
  }
}
