/** Temp copies of test fixtures, with the fake `uv` on PATH. */
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')
export const FAKE_UV_DIR = join(FIXTURES, 'fake-uv')

const made: string[] = []

/** A fresh copy of fixture `name` in a temp dir. */
export async function fixtureCopy (name: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), `swarm-${name}-`))
  made.push(root)
  const dir = join(root, name)
  await cp(join(FIXTURES, name), dir, { recursive: true })
  return dir
}

export async function tempDir (prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `swarm-${prefix}-`))
  made.push(dir)
  return dir
}

export async function cleanupFixtures (): Promise<void> {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true })
}

/** PATH with the fake uv first, so `uv run train.py` works without uv. */
export function pathWithFakeUv (): string {
  return `${FAKE_UV_DIR}:${process.env.PATH ?? ''}`
}
