/**
 * The node's local memory of the swarm, per project: every result and
 * attestation it accepted (append-only, fsynced JSONL of the signed canonical
 * bytes), the latest claims and heartbeats (in memory: they expire anyway),
 * the best record per track, and editable content by hash (for `fetch`).
 * A corrupt or torn line is skipped on load, never fatal.
 */
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  contentHash, encodeBestRecord, encodeMessage, messageId, parseBestRecord, parseMessage,
  type AttestationMsg, type BestRecord, type ClaimMsg, type Message, type ResultMsg, type StatusMsg
} from '../../protocol/index.ts'
import { writeFileAtomic } from '../fs-util.ts'

const HASH_RE = /^[0-9a-f]{64}$/
const TRACK_RE = /^[a-z0-9][a-z0-9-]{0,47}$/

export interface StoredMessage { id: string, msg: ResultMsg | AttestationMsg, received: number }

export class SwarmStore {
  readonly warnings: string[] = []
  private readonly byId = new Map<string, StoredMessage>()
  private readonly ordered: StoredMessage[] = []
  private readonly claimsByAuthor = new Map<string, ClaimMsg>()
  private readonly statusByAuthor = new Map<string, StatusMsg>()
  private readonly bestByTrack = new Map<string, BestRecord>()
  private writeChain: Promise<void> = Promise.resolve()
  /** Writes in flight per file: writeFileAtomic's temp name is per process, so two writes of one path must not overlap. */
  private readonly fileWrites = new Map<string, Promise<void>>()

  private constructor (readonly dir: string) {}

  static async open (dir: string): Promise<SwarmStore> {
    const s = new SwarmStore(dir)
    await mkdir(join(dir, 'content'), { recursive: true })
    await mkdir(join(dir, 'best'), { recursive: true })
    await s.load()
    return s
  }

  private get messagesPath (): string { return join(this.dir, 'messages.jsonl') }

  private async load (): Promise<void> {
    let text = ''
    try {
      text = await readFile(this.messagesPath, 'utf8')
    } catch (err: any) {
      if (err?.code !== 'ENOENT') throw err
    }
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue
      try {
        const { received, msg } = JSON.parse(line) as { received: number, msg: unknown }
        const m = parseMessage(new TextEncoder().encode(JSON.stringify(msg)))
        if (m.kind === 'result' || m.kind === 'attestation') this.index(m, received)
      } catch (err: any) {
        this.warnings.push(`messages.jsonl line ${i + 1} skipped: ${String(err?.message ?? err).slice(0, 120)}`)
      }
    }
    for (const name of await readdir(join(this.dir, 'best'))) {
      if (!name.endsWith('.json')) continue
      try {
        const rec = parseBestRecord(await readFile(join(this.dir, 'best', name)))
        this.bestByTrack.set(rec.track, rec)
      } catch (err: any) {
        this.warnings.push(`best/${name} skipped: ${String(err?.message ?? err).slice(0, 120)}`)
      }
    }
  }

  private index (msg: ResultMsg | AttestationMsg, received: number): StoredMessage | null {
    const id = messageId(msg)
    if (this.byId.has(id)) return null
    const entry = { id, msg, received }
    this.byId.set(id, entry)
    this.ordered.push(entry)
    return entry
  }

  /** Stores an accepted (already verified) message. Returns false for a duplicate. */
  async add (msg: Message, received = Date.now()): Promise<boolean> {
    if (msg.kind === 'claim') {
      const prev = this.claimsByAuthor.get(msg.author)
      if (prev != null && prev.time >= msg.time) return false
      this.claimsByAuthor.set(msg.author, msg)
      return true
    }
    if (msg.kind === 'status') {
      const prev = this.statusByAuthor.get(msg.author)
      if (prev != null && prev.time >= msg.time) return false
      this.statusByAuthor.set(msg.author, msg)
      return true
    }
    const entry = this.index(msg, received)
    if (entry == null) return false
    // The canonical encoding is already JSON: it goes into the line as it is.
    const line = `{"received":${received},"msg":${new TextDecoder().decode(encodeMessage(msg))}}\n`
    await this.append(line)
    return true
  }

  private async append (line: string): Promise<void> {
    const write = async (): Promise<void> => {
      const fh = await open(this.messagesPath, 'a')
      try {
        await fh.write(line)
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    const next = this.writeChain.then(write)
    this.writeChain = next.catch(() => {})
    await next
  }

  get (id: string): StoredMessage | undefined { return this.byId.get(id) }

  /** When this node first stored message `id` (ms epoch; kept across restarts), or undefined when it has not. */
  seenAt (id: string): number | undefined { return this.byId.get(id)?.received }

  results (): ResultMsg[] {
    return this.ordered.filter(e => e.msg.kind === 'result').map(e => e.msg as ResultMsg)
  }

  attestations (resultId?: string): AttestationMsg[] {
    return this.ordered.filter(e => e.msg.kind === 'attestation' && (resultId == null || (e.msg as AttestationMsg).result === resultId)).map(e => e.msg as AttestationMsg)
  }

  /** Results and attestations created at or after `since` (by their own time), oldest first, for `sync`. */
  since (since: number, limit: number): { items: Array<ResultMsg | AttestationMsg>, more: boolean } {
    const all = this.ordered.filter(e => e.msg.time >= since).sort((a, b) => a.msg.time - b.msg.time || (a.id < b.id ? -1 : 1))
    return { items: all.slice(0, limit).map(e => e.msg), more: all.length > limit }
  }

  claims (now = Date.now()): ClaimMsg[] {
    return [...this.claimsByAuthor.values()].filter(c => c.expires > now)
  }

  statuses (): StatusMsg[] { return [...this.statusByAuthor.values()] }

  best (track: string): BestRecord | undefined { return this.bestByTrack.get(track) }

  bestRecords (): BestRecord[] { return [...this.bestByTrack.values()] }

  async putBest (rec: BestRecord): Promise<void> {
    if (!TRACK_RE.test(rec.track)) throw new Error(`bad track ${rec.track}`)
    this.bestByTrack.set(rec.track, rec)
    await this.writeFile(join(this.dir, 'best', `${rec.track}.json`), encodeBestRecord(rec))
    await this.putContent(rec.content.files)
  }

  /** Forgets a track's best record (its author turned out to lie). */
  async dropBest (track: string): Promise<void> {
    if (!TRACK_RE.test(track)) return
    this.bestByTrack.delete(track)
    await rm(join(this.dir, 'best', `${track}.json`), { force: true })
  }

  /** Editable content by its hash, so peers can `fetch` what we ran. */
  async putContent (files: Record<string, string>): Promise<string> {
    const hash = contentHash(files)
    await this.writeFile(join(this.dir, 'content', `${hash}.json`), JSON.stringify({ files }))
    return hash
  }

  private async writeFile (path: string, data: string | Uint8Array): Promise<void> {
    const next = (this.fileWrites.get(path) ?? Promise.resolve()).catch(() => {}).then(async () => { await writeFileAtomic(path, data) })
    this.fileWrites.set(path, next)
    try {
      await next
    } finally {
      if (this.fileWrites.get(path) === next) this.fileWrites.delete(path)
    }
  }

  async getContent (hash: string): Promise<Record<string, string> | null> {
    if (!HASH_RE.test(hash)) return null
    try {
      const { files } = JSON.parse(await readFile(join(this.dir, 'content', `${hash}.json`), 'utf8')) as { files: Record<string, string> }
      // A file damaged on disk must not be served as that hash.
      return contentHash(files) === hash ? files : null
    } catch {
      return null
    }
  }
}
