/**
 * Moves a store written by swarm-node before the database (the JSONL layout)
 * into it, once: `messages.jsonl` (one `{"received":ms,"msg":{…}}` a line, the
 * message in its canonical form), `content/<hash>.json` (`{"files":{…}}`) and
 * `best/<track>.json` (a canonical best record). The file is streamed line by
 * line, so its size does not matter; a line that does not parse is skipped
 * and counted. Every message goes through the same admission as gossip
 * (quotas, retention). Afterwards the old files are moved to `migrated/`, and
 * a warning says so; a crash midway leaves them in place, and the next open
 * starts over (what was already copied is a duplicate).
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_BEST_RECORD_BYTES, MAX_MESSAGE_BYTES, contentHash, parseBestRecord, parseMessage, type BestRecord, type Message } from '../../../protocol/index.ts'
import { readLines } from './lines.ts'

/** A line holds one message (its canonical bytes as they are, <= 64 KiB) in a short wrapper. */
export const MAX_LEGACY_LINE_BYTES = MAX_MESSAGE_BYTES + 1024
/** Content files hold <= 16 editable files of a best record (<= 512 KiB). */
const MAX_LEGACY_FILE_BYTES = MAX_BEST_RECORD_BYTES + 1024
const BATCH = 500

export interface MigrationSink {
  admit: (msg: Message, received: number) => string
  putContent: (files: Record<string, string>) => void
  putBest: (rec: BestRecord) => void
  /** Runs `fn` in one transaction (a batch of lines commits together). */
  transaction: (fn: () => void) => void
  warn: (message: string) => void
}

export interface MigrationReport { messages: number, skipped: number, content: number, best: number }

export async function migrateLegacyStore (dir: string, sink: MigrationSink, opts: { maxLineBytes?: number } = {}): Promise<MigrationReport | null> {
  const messages = join(dir, 'messages.jsonl')
  const content = join(dir, 'content')
  const best = join(dir, 'best')
  if (![messages, content, best].some(p => existsSync(p))) return null
  const report: MigrationReport = { messages: 0, skipped: 0, content: 0, best: 0 }
  // Content and best records before messages: nothing refers to a message that is not there yet.
  if (existsSync(content)) report.content = await migrateFiles(content, sink, 'content', text => {
    const { files } = JSON.parse(text) as { files: Record<string, string> }
    contentHash(files) // throws on a shape that is not content
    sink.putContent(files)
  })
  if (existsSync(best)) report.best = await migrateFiles(best, sink, 'best', text => { sink.putBest(parseBestRecord(new TextEncoder().encode(text))) })
  if (existsSync(messages)) {
    const counts = await migrateMessages(messages, sink, opts.maxLineBytes ?? MAX_LEGACY_LINE_BYTES)
    report.messages = counts.stored
    report.skipped = counts.skipped
  }
  const aside = join(dir, 'migrated')
  await mkdir(aside, { recursive: true })
  for (const p of [messages, content, best]) if (existsSync(p)) await rename(p, join(aside, p.slice(dir.length + 1)))
  sink.warn(`migrated the store to SQLite: ${report.messages} messages (${report.skipped} lines skipped), ${report.content} contents, ${report.best} best records; the old files are in ${aside} (delete them when you like)`)
  return report
}

async function migrateMessages (path: string, sink: MigrationSink, maxLineBytes: number): Promise<{ stored: number, skipped: number }> {
  let stored = 0
  let skipped = 0
  let batch: Array<{ n: number, text: string }> = []
  const flush = (): void => {
    const lines = batch
    batch = []
    sink.transaction(() => {
      for (const { n, text } of lines) {
        try {
          const { received, msg } = JSON.parse(text) as { received: unknown, msg: unknown }
          const m = parseMessage(new TextEncoder().encode(JSON.stringify(msg)))
          if (m.kind !== 'result' && m.kind !== 'attestation') throw new Error(`a ${m.kind} is not kept`)
          const at = typeof received === 'number' && Number.isFinite(received) ? received : m.time
          if (sink.admit(m, at) === 'stored') stored++
        } catch (err: any) {
          skipped++
          if (skipped <= 10) sink.warn(`messages.jsonl line ${n} skipped: ${String(err?.message ?? err).slice(0, 120)}`)
        }
      }
    })
  }
  for await (const line of readLines(path, maxLineBytes)) {
    if (line.tooLong != null) {
      skipped++
      if (skipped <= 10) sink.warn(`messages.jsonl line ${line.n} skipped: ${line.tooLong} bytes, over ${maxLineBytes}`)
      continue
    }
    if (line.text.trim() === '') continue
    batch.push({ n: line.n, text: line.text })
    if (batch.length >= BATCH) flush()
  }
  if (batch.length > 0) flush()
  return { stored, skipped }
}

async function migrateFiles (dir: string, sink: MigrationSink, what: string, take: (text: string) => void): Promise<number> {
  let n = 0
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.json')) continue
    try {
      const size = (await stat(join(dir, name))).size
      if (size > MAX_LEGACY_FILE_BYTES) throw new Error(`${size} bytes, over ${MAX_LEGACY_FILE_BYTES}`)
      const text = await readFile(join(dir, name), 'utf8')
      take(text)
      n++
    } catch (err: any) {
      sink.warn(`${what}/${name} skipped: ${String(err?.message ?? err).slice(0, 120)}`)
    }
  }
  return n
}
