/**
 * The dashboard's static files (HTML, CSS and the page's own scripts; no
 * library, no CDN), read once from this folder and served by the control API.
 */
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Asset { type: string, body: Buffer }

const HERE = dirname(fileURLToPath(import.meta.url))

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8'
}

/** Only these names are ever read: a request path never reaches the file system. */
export const ASSET_NAMES = Object.keys(TYPES)

export async function loadAssets (): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>()
  for (const [name, type] of Object.entries(TYPES)) out.set(name, { type, body: await readFile(join(HERE, name)) })
  return out
}
