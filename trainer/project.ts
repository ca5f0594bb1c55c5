/**
 * A project on disk: its manifest, its identity and its fixed files. Two nodes
 * compare results only when their project ids match, so the id covers the
 * normalised manifest and every file that is neither editable nor an output.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { projectId } from '../protocol/index.ts'
import { ManifestError, isOutput, jsonErrorAt, parseManifest, withBudget, type Manifest } from './manifest.ts'

export const MANIFEST_FILE = 'swarm.json'
const MAX_FILES = 5000
const MAX_TOTAL_BYTES = 2 * 1024 ** 3
// Never part of a project's identity: VCS and tool state, caches, virtual environments.
const SKIP_DIRS = new Set(['node_modules', '__pycache__'])
const SKIP_FILES = new Set([MANIFEST_FILE, '.gitignore', '.DS_Store'])

export interface FixedFile { path: string, sha256: string }

export interface Project {
  dir: string
  manifest: Manifest
  id: string
  fixedFiles: FixedFile[]
}

export async function readManifest (dir: string): Promise<Manifest> {
  const file = join(dir, MANIFEST_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    if (err?.code === 'ENOENT') throw new ManifestError('(file)', `no ${MANIFEST_FILE} in ${dir}: run \`npx swarm-node init\` for the default project, or add a manifest (see README)`)
    throw err
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    const e = jsonErrorAt(text)
    throw new ManifestError('(file)', `${file} is not valid JSON: line ${e.line}, column ${e.column}: ${e.problem}\n${e.excerpt}`)
  }
  return parseManifest(raw)
}

function sha256File (path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(path).on('data', d => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')))
  })
}

/** Every fixed (non-editable, non-output) file under `dir`, sorted by path. */
export async function listFixedFiles (dir: string, manifest: Manifest): Promise<FixedFile[]> {
  const out: FixedFile[] = []
  let total = 0
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true })
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        if (e.name.startsWith('.') || SKIP_DIRS.has(e.name) || isOutput(manifest, path + '/')) continue
        await walk(path)
      } else if (e.isFile()) {
        if ((rel === '' && SKIP_FILES.has(e.name)) || manifest.editable.includes(path) || isOutput(manifest, path)) continue
        if (out.length >= MAX_FILES) throw new ManifestError('(files)', `more than ${MAX_FILES} fixed files under ${dir}: list generated folders in "outputs"`)
        total += (await stat(join(dir, path))).size
        if (total > MAX_TOTAL_BYTES) throw new ManifestError('(files)', `fixed files under ${dir} exceed 2 GiB: list data folders in "outputs"`)
        out.push({ path, sha256: await sha256File(join(dir, path)) })
      }
    }
  }
  await walk('')
  return out
}

export async function loadProject (dir: string, opts: { budgetS?: number } = {}): Promise<Project> {
  const manifest = withBudget(await readManifest(dir), opts.budgetS)
  for (const e of manifest.editable) {
    try {
      if (!(await stat(join(dir, e))).isFile()) throw new Error('not a file')
    } catch {
      throw new ManifestError('editable', `${e} does not exist in ${dir}`)
    }
  }
  const fixedFiles = await listFixedFiles(dir, manifest)
  return { dir, manifest, fixedFiles, id: projectId({ manifest: manifest as unknown as Record<string, unknown>, files: fixedFiles }) }
}
