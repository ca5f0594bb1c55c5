/**
 * The node's local memory of the swarm, per project, in one SQLite database
 * (`<home>/store/<project id>/store.db`): every result and attestation it
 * accepted (the signed canonical bytes, as they arrived), the editable content
 * it ran or fetched (by hash, for `fetch`) and the best record per track; the
 * latest claim and heartbeat per author live in memory (they expire anyway).
 *
 * It holds under abuse: per-author and total quotas, retention (keeps and
 * attestations stay; an author's discards, crashes and invalid results beyond
 * its newest `authorMaxDiscards` age out), a full store ages out its oldest
 * entries rather than freezing, and this node's own words are never refused.
 * Nothing reads the whole file: queries go through indexes. A store written by
 * an older swarm-node (JSONL) migrates on first open, line by line, whatever
 * its size; a damaged line or row is skipped and counted, never fatal.
 *
 * @example
 * ```ts
 * const store = await SwarmStore.open(dir, { self: myPeerId, limits: { maxBytes: 64 << 20 } })
 * const outcome = await store.admit(msg)   // 'stored' | 'duplicate' | 'author-quota' | ...
 * ```
 */
import type { Database as Db, Statement } from 'better-sqlite3'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  contentHash, encodeBestRecord, encodeMessage, messageId, parseBestRecord, TRACK_PATTERN, HASH_PATTERN,
  type AttestationMsg, type BestRecord, type ClaimMsg, type Message, type ResultMsg, type StatusMsg
} from '../../protocol/index.ts'
import { DB_FILE, isDamaged, openDatabase } from './store/database.ts'
import { storeLimits, type StoreLimits } from './store/limits.ts'
import { migrateLegacyStore } from './store/migrate.ts'

export { DEFAULT_STORE_LIMITS, storeLimits, type StoreLimits } from './store/limits.ts'

export interface StoredMessage { id: string, msg: ResultMsg | AttestationMsg, received: number }

/**
 * What became of a message handed to the store. Anything but `stored` means
 * it was not kept, and a gossip validator should Ignore it (not forward it):
 * - `duplicate`: already held (or an older claim/status than the one held);
 * - `author-quota`: its author's share is full of keeps and attestations;
 * - `stale`: a discard older than every one its author already has kept;
 * - `store-full`: the total quota is reached and nothing may age out for it.
 */
export type Admission = 'stored' | 'duplicate' | 'author-quota' | 'stale' | 'store-full'

/** A message aged out of the store: enough for an in-memory view to drop it without hashing anything. */
export interface AgedOut { id: string, kind: 'result' | 'attestation', author: string, time: number, /** An attestation's result id. */ result: string | null }

export interface ResultQuery { status?: ResultMsg['status'], track?: string, newest?: number }

export interface StoreOptions {
  limits?: Partial<StoreLimits>
  /** This node's peer id: its own messages are never refused or aged out. */
  self?: string
  /** Authors whose messages are never aged out or refused either (e.g. ones this node verified). */
  protect?: (author: string) => boolean
}

export interface StoreStats {
  bytes: number
  messages: number
  authors: number
  contentBytes: number
  /** Messages refused since open, by reason. */
  refused: Record<Exclude<Admission, 'stored'>, number>
  /** Messages aged out since open (retention or a full store). */
  agedOut: number
  /** Rows skipped because they could not be read. */
  damagedRows: number
}

/** At most this many single warnings; then one summary per kind. */
const MAX_WARNINGS = 20
const KEPT = (kind: string, status: string | null): boolean => kind === 'attestation' || status === 'keep'

interface Row { seq: number, id: string, body: string, received: number }
/** What ageing a row out needs: its seq, and what listeners are told. */
type AgedOutRow = AgedOut & { seq: number }

class Refusal extends Error {
  constructor (readonly outcome: Exclude<Admission, 'stored'>) { super(outcome) }
}

export class SwarmStore {
  readonly warnings: string[] = []
  readonly limits: StoreLimits
  private readonly claimsByAuthor = new Map<string, ClaimMsg>()
  private readonly statusByAuthor = new Map<string, StatusMsg>()
  private readonly bestByTrack = new Map<string, BestRecord>()
  private contentBytes = 0
  /**
   * All results and attestations, by row, once something asked for all of
   * them: kept in step with every insert and age-out (after its transaction
   * commits), so a flood of small changes does not mean re-reading the table
   * for every question. Bounded by the store's quota.
   */
  private cache: { results?: Map<number, ResultMsg>, attestations?: Map<number, AttestationMsg> } = {}
  /** Rows inserted and aged out by the admission in progress, applied to the cache once it commits. */
  private changes: { added: Array<[number, ResultMsg | AttestationMsg]>, dropped: AgedOutRow[] } = { added: [], dropped: [] }
  /** Told the messages aged out, once their transaction commits: in-memory views drop them too. */
  private readonly agedOutListeners: Array<(gone: AgedOut[]) => void> = []
  private readonly refused: StoreStats['refused'] = { duplicate: 0, 'author-quota': 0, stale: 0, 'store-full': 0 }
  private agedOut = 0
  /** Rows aged out by the admission in progress (counted once it commits). */
  private dropped = 0
  private damagedRows = 0
  private readonly sql: ReturnType<typeof prepare>

  private constructor (readonly dir: string, private readonly db: Db, private readonly opts: StoreOptions, limits: StoreLimits) {
    this.limits = limits
    this.sql = prepare(db)
  }

  static async open (dir: string, opts: StoreOptions = {}): Promise<SwarmStore> {
    const limits = storeLimits(opts.limits)
    await mkdir(dir, { recursive: true })
    const warnings: string[] = []
    const db = await openDatabase(join(dir, DB_FILE), w => warnings.push(w))
    const s = new SwarmStore(dir, db, opts, limits)
    s.warnings.push(...warnings)
    s.loadSmallState()
    await migrateLegacyStore(dir, {
      admit: (msg, received) => s.admitSync(msg, received),
      putContent: files => { s.putContentSync(files) },
      putBest: rec => { s.putBestSync(rec) },
      transaction: fn => s.db.transaction(fn)(),
      warn: w => { s.warn(w) }
    })
    return s
  }

  /** Closes the database (tests; the process exit does the same). */
  close (): void {
    if (this.db.open) this.db.close()
  }

  private warn (message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(message)
    else if (this.warnings.length === MAX_WARNINGS) this.warnings.push('more store warnings were left out')
  }

  private loadSmallState (): void {
    this.contentBytes = (this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM content').get() as { n: number }).n
    for (const { track, body } of this.db.prepare('SELECT track, body FROM best ORDER BY updated').all() as Array<{ track: string, body: string }>) {
      try {
        this.bestByTrack.set(track, parseBestRecord(new TextEncoder().encode(body)))
      } catch (err: any) {
        this.warn(`best record for track ${track} skipped: ${String(err?.message ?? err).slice(0, 120)}`)
      }
    }
  }

  // --- messages ---------------------------------------------------------------

  /** Stores an accepted (already verified) message. True when it was stored; `admit` says why not. */
  async add (msg: Message, received = Date.now()): Promise<boolean> {
    return await this.admit(msg, received) === 'stored'
  }

  /** Stores an accepted (already verified) message, or says why it was not. */
  async admit (msg: Message, received = Date.now()): Promise<Admission> {
    return this.admitSync(msg, received)
  }

  private admitSync (msg: Message, received: number): Admission {
    if (msg.kind === 'claim' || msg.kind === 'status') return this.latest(msg)
    this.dropped = 0
    this.changes = { added: [], dropped: [] }
    let outcome: Admission
    try {
      // A refusal rolls back whatever was aged out to make room for it.
      outcome = this.db.transaction(() => {
        const o = this.insert(msg, received)
        if (o !== 'stored') throw new Refusal(o)
        return o
      })()
      this.agedOut += this.dropped
      this.applyChanges()
    } catch (err) {
      if (!(err instanceof Refusal)) throw err
      outcome = err.outcome
      this.refused[outcome]++
    }
    return outcome
  }

  /** Claims and heartbeats: the latest per author, for a bounded number of authors. */
  private latest (msg: ClaimMsg | StatusMsg): Admission {
    const map: Map<string, ClaimMsg | StatusMsg> = msg.kind === 'claim' ? this.claimsByAuthor : this.statusByAuthor
    const prev = map.get(msg.author)
    if (prev != null && prev.time >= msg.time) {
      this.refused.duplicate++
      return 'duplicate'
    }
    // Re-inserted so the least recently heard author is first in line to be forgotten.
    map.delete(msg.author)
    map.set(msg.author, msg)
    if (msg.kind === 'claim') {
      const now = Date.now()
      for (const [a, c] of this.claimsByAuthor) if ((c).expires <= now) this.claimsByAuthor.delete(a)
    }
    while (map.size > this.limits.maxLiveAuthors) map.delete(map.keys().next().value as string)
    return 'stored'
  }

  private isProtected (author: string): boolean {
    return author === this.opts.self || (this.opts.protect?.(author) ?? false)
  }

  /** One message in, inside a transaction: dedup, the author's share, then the total. */
  private insert (msg: ResultMsg | AttestationMsg, received: number): Admission {
    const id = messageId(msg)
    if (this.sql.has.get(id) != null) return 'duplicate'
    const body = new TextDecoder().decode(encodeMessage(msg))
    const bytes = Buffer.byteLength(body)
    const kept = KEPT(msg.kind, msg.kind === 'result' ? msg.status : null)
    const L = this.limits
    const mine = this.isProtected(msg.author)
    if (!mine) {
      const author = this.sql.author.get(msg.author) as { bytes: number, discards: number } | undefined
      let authorBytes = author?.bytes ?? 0
      if (!kept) {
        // Retention: the author's newest discards stay; one older than all of them would go first.
        let over = (author?.discards ?? 0) + 1 - L.authorMaxDiscards
        if (over > 0) {
          const oldest = this.sql.authorDiscards.all(msg.author, over) as Array<AgedOutRow & { bytes: number }>
          if (oldest.length > 0 && msg.time <= oldest[oldest.length - 1]!.time) return 'stale'
          for (const o of oldest) { this.drop(o); authorBytes -= o.bytes; over-- }
        }
      }
      if (authorBytes + bytes > L.authorMaxBytes) {
        // Room is made from the author's own oldest discards only: its keeps and attestations stay.
        for (const o of this.sql.authorDiscards.all(msg.author, 64) as Array<AgedOutRow & { bytes: number }>) {
          if (authorBytes + bytes <= L.authorMaxBytes) break
          if (!kept && msg.time <= o.time) return 'stale'
          this.drop(o)
          authorBytes -= o.bytes
        }
        if (authorBytes + bytes > L.authorMaxBytes) return 'author-quota'
      }
    }
    if (!this.makeRoom(bytes) && !mine) return 'store-full'
    const { lastInsertRowid } = this.sql.insert.run(id, msg.kind, msg.author, msg.track, msg.kind === 'result' ? msg.status : null, msg.kind === 'attestation' ? msg.result : null,
      msg.child, msg.time, received, bytes, body)
    this.changes.added.push([Number(lastInsertRowid), msg])
    return 'stored'
  }

  /**
   * Frees `bytes` under the total quota: the oldest-received discards first,
   * then the oldest keeps and attestations (a full store must not stop the
   * node from hearing new results), never a protected author's.
   */
  private makeRoom (bytes: number): boolean {
    const total = (): number => (this.sql.totals.get() as { bytes: number }).bytes
    if (total() + bytes <= this.limits.maxBytes) return true
    for (const oldest of [this.sql.oldestDiscards, this.sql.oldestAny]) {
      let after = 0
      while (total() + bytes > this.limits.maxBytes) {
        const batch = oldest.all(after, 64) as AgedOutRow[]
        if (batch.length === 0) break
        for (const o of batch) {
          after = o.seq
          if (this.isProtected(o.author)) continue
          this.drop(o)
          if (total() + bytes <= this.limits.maxBytes) return true
        }
      }
    }
    return total() + bytes <= this.limits.maxBytes
  }

  private drop (row: AgedOutRow): void {
    this.sql.drop.run(row.seq)
    this.dropped++
    this.changes.dropped.push(row)
  }

  /** Calls `listener` with the messages aged out by each admission (retention or a full store). */
  onAgedOut (listener: (gone: AgedOut[]) => void): void {
    this.agedOutListeners.push(listener)
  }

  private applyChanges (): void {
    const { results, attestations } = this.cache
    for (const { seq } of this.changes.dropped) { results?.delete(seq); attestations?.delete(seq) }
    const gone = this.changes.dropped.map(({ id, kind, author, time, result }) => ({ id, kind, author, time, result }))
    for (const [seq, m] of this.changes.added) {
      if (m.kind === 'result') results?.set(seq, m)
      else attestations?.set(seq, m)
    }
    this.changes = { added: [], dropped: [] }
    if (gone.length > 0) for (const l of this.agedOutListeners) l(gone)
  }

  private parse (row: Row): ResultMsg | AttestationMsg | null {
    try {
      const m = JSON.parse(row.body)
      if (typeof m === 'object' && m !== null && m.v === 1 && (m.kind === 'result' || m.kind === 'attestation') && typeof m.author === 'string' && typeof m.time === 'number') return m
    } catch {}
    this.damagedRows++
    this.warn(`stored message ${row.id.slice(0, 12)} is damaged and was skipped`)
    return null
  }

  private parseAll<T extends ResultMsg | AttestationMsg> (rows: Row[]): T[] {
    const out: T[] = []
    for (const r of rows) {
      const m = this.parse(r)
      if (m != null) out.push(m as T)
    }
    return out
  }

  private byRow<T extends ResultMsg | AttestationMsg> (what: string, query: Statement): Map<number, T> {
    const out = new Map<number, T>()
    for (const row of this.guarded(what, [], () => query.all() as Row[])) {
      const m = this.parse(row)
      if (m != null) out.set(row.seq, m as T)
    }
    return out
  }

  private guarded<T> (what: string, fallback: T, read: () => T): T {
    try {
      return read()
    } catch (err) {
      if (!isDamaged(err)) throw err
      this.warn(`reading ${what} failed: ${(err as Error).message} (the database is damaged; the next start moves it aside)`)
      return fallback
    }
  }

  get (id: string): StoredMessage | undefined {
    const row = this.guarded('a message', undefined, () => this.sql.get.get(id) as Row | undefined)
    if (row == null) return undefined
    const msg = this.parse(row)
    return msg == null ? undefined : { id: row.id, msg, received: row.received }
  }

  /** When this node first stored message `id` (ms), or undefined when it holds no such message. */
  seenAt (id: string): number | undefined {
    return this.guarded('a message', undefined, () => (this.sql.seenAt.get(id) as { received: number } | undefined)?.received)
  }

  /** Whether any result or attestation of `author` is stored. */
  knows (author: string): boolean {
    return this.guarded('authors', false, () => this.sql.knows.get(author) != null)
  }


  /**
   * Stored results in the order stored: all of them, or through the indexes
   * only those of one status and track, or the `newest` few (the chart, the
   * leaderboard's keeps: what a hot path should ask for instead of everything).
   */
  results (q: ResultQuery = {}): ResultMsg[] {
    if (q.status == null && q.track == null && q.newest == null) {
      this.cache.results ??= this.byRow<ResultMsg>('results', this.sql.results)
      return [...this.cache.results.values()]
    }
    const where = ["kind = 'result'"]
    const args: Array<string | number> = []
    if (q.status != null) { where.push('status = ?'); args.push(q.status) }
    if (q.track != null) { where.push('track = ?'); args.push(q.track) }
    if (q.newest != null) args.push(Math.max(0, Math.floor(q.newest)))
    const sql = `SELECT seq, id, body, received FROM messages WHERE ${where.join(' AND ')} ORDER BY seq DESC${q.newest != null ? ' LIMIT ?' : ''}`
    return this.guarded('results', [], () => this.parseAll<ResultMsg>((this.db.prepare(sql).all(...args) as Row[]).reverse()))
  }

  /** Every stored attestation (of `resultId` only, when given), in the order stored. */
  attestations (resultId?: string): AttestationMsg[] {
    if (resultId != null) return this.guarded('attestations', [], () => this.parseAll<AttestationMsg>(this.sql.attestationsOf.all(resultId) as Row[]))
    this.cache.attestations ??= this.byRow<AttestationMsg>('attestations', this.sql.attestations)
    return [...this.cache.attestations.values()]
  }

  /** Results and attestations whose `child` is `hash` (who ran that content). */
  byChild (hash: string): Array<ResultMsg | AttestationMsg> {
    return this.guarded('messages by content', [], () => this.parseAll(this.sql.byChild.all(hash) as Row[]))
  }

  /**
   * Results and attestations created at or after `since` (by their own time), in (time, id) order, for
   * `sync`; with `after` (a message id), only those after (since, after) in that order.
   */
  since (since: number, limit: number, after = ''): { items: Array<ResultMsg | AttestationMsg>, more: boolean } {
    const rows = this.guarded('a sync page', [], () => this.sql.since.all(since, since, after, limit + 1) as Row[])
    return { items: this.parseAll(rows.slice(0, limit)), more: rows.length > limit }
  }

  claims (now = Date.now()): ClaimMsg[] {
    return [...this.claimsByAuthor.values()].filter(c => c.expires > now)
  }

  statuses (): StatusMsg[] { return [...this.statusByAuthor.values()] }

  stats (): StoreStats {
    const t = this.sql.totals.get() as { bytes: number, messages: number }
    const authors = (this.sql.authorCount.get() as { n: number }).n
    return { bytes: t.bytes, messages: t.messages, authors, contentBytes: this.contentBytes, refused: { ...this.refused }, agedOut: this.agedOut, damagedRows: this.damagedRows }
  }

  // --- best records -------------------------------------------------------------

  best (track: string): BestRecord | undefined { return this.bestByTrack.get(track) }

  bestRecords (): BestRecord[] { return [...this.bestByTrack.values()] }

  async putBest (rec: BestRecord): Promise<void> {
    this.putBestSync(rec)
  }

  private putBestSync (rec: BestRecord): void {
    if (!TRACK_PATTERN.test(rec.track)) throw new Error(`bad track ${rec.track}`)
    const body = new TextDecoder().decode(encodeBestRecord(rec))
    this.db.transaction(() => {
      this.putContentSync(rec.content.files)
      this.sql.putBest.run(rec.track, body, rec.result.child, Date.now())
      this.bestByTrack.delete(rec.track)
      this.bestByTrack.set(rec.track, rec)
      while (this.bestByTrack.size > this.limits.maxBestTracks) {
        const oldest = this.bestByTrack.keys().next().value as string
        this.bestByTrack.delete(oldest)
        this.sql.dropBest.run(oldest)
      }
    })()
  }

  /** Forgets a track's best record (its author turned out to lie). */
  async dropBest (track: string): Promise<void> {
    if (!TRACK_PATTERN.test(track)) return
    this.bestByTrack.delete(track)
    this.sql.dropBest.run(track)
  }

  // --- content -------------------------------------------------------------------

  /** Editable content by its hash, so peers can `fetch` what we ran. */
  async putContent (files: Record<string, string>): Promise<string> {
    return this.putContentSync(files)
  }

  private putContentSync (files: Record<string, string>): string {
    const hash = contentHash(files)
    const text = JSON.stringify(files)
    const bytes = Buffer.byteLength(text)
    this.db.transaction(() => {
      const prev = this.sql.contentSize.get(hash) as { bytes: number } | undefined
      this.sql.putContent.run(hash, text, bytes, Date.now())
      this.contentBytes += bytes - (prev?.bytes ?? 0)
      // The oldest content no best record names goes first; what was just stored stays.
      const keep = new Set([hash, ...[...this.bestByTrack.values()].map(b => b.result.child)])
      while (this.contentBytes > this.limits.maxContentBytes) {
        const batch = (this.sql.oldestContent.all(keep.size + 64) as Array<{ hash: string, bytes: number }>).filter(c => !keep.has(c.hash))
        if (batch.length === 0) break
        for (const c of batch) {
          this.sql.dropContent.run(c.hash)
          this.contentBytes -= c.bytes
          if (this.contentBytes <= this.limits.maxContentBytes) break
        }
      }
    })()
    return hash
  }

  async getContent (hash: string): Promise<Record<string, string> | null> {
    if (!HASH_PATTERN.test(hash)) return null
    const row = this.guarded('content', undefined, () => this.sql.getContent.get(hash) as { files: string } | undefined)
    if (row == null) return null
    try {
      const files = JSON.parse(row.files) as Record<string, string>
      // Content damaged on disk must not be served as that hash.
      return contentHash(files) === hash ? files : null
    } catch {
      return null
    }
  }
}

function prepare (db: Db) {
  const p = (sql: string): Statement => db.prepare(sql)
  return {
    has: p('SELECT 1 FROM messages WHERE id = ?'),
    get: p('SELECT seq, id, body, received FROM messages WHERE id = ?'),
    seenAt: p('SELECT received FROM messages WHERE id = ?'),
    insert: p('INSERT INTO messages (id, kind, author, track, status, result, child, time, received, bytes, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    drop: p('DELETE FROM messages WHERE seq = ?'),
    author: p('SELECT bytes, discards FROM authors WHERE author = ?'),
    authorCount: p('SELECT COUNT(*) AS n FROM authors'),
    knows: p('SELECT 1 FROM authors WHERE author = ?'),
    totals: p('SELECT bytes, messages FROM totals WHERE one = 1'),
    authorDiscards: p("SELECT seq, id, kind, author, time, result, bytes FROM messages WHERE author = ? AND kind = 'result' AND status != 'keep' ORDER BY time, seq LIMIT ?"),
    oldestDiscards: p("SELECT seq, id, kind, author, time, result FROM messages WHERE kind = 'result' AND status != 'keep' AND seq > ? ORDER BY seq LIMIT ?"),
    oldestAny: p('SELECT seq, id, kind, author, time, result FROM messages WHERE seq > ? ORDER BY seq LIMIT ?'),
    results: p("SELECT seq, id, body, received FROM messages WHERE kind = 'result' ORDER BY seq"),
    attestations: p("SELECT seq, id, body, received FROM messages WHERE kind = 'attestation' ORDER BY seq"),
    attestationsOf: p("SELECT seq, id, body, received FROM messages WHERE kind = 'attestation' AND result = ? ORDER BY seq"),
    byChild: p('SELECT seq, id, body, received FROM messages WHERE child = ? ORDER BY seq'),
    // After (since, after) in (time, id) order: a page boundary inside one millisecond loses nothing.
    since: p('SELECT seq, id, body, received FROM messages WHERE time >= ? AND (time > ? OR id > ?) ORDER BY time, id LIMIT ?'),
    putBest: p('INSERT INTO best (track, body, child, updated) VALUES (?, ?, ?, ?) ON CONFLICT (track) DO UPDATE SET body = excluded.body, child = excluded.child, updated = excluded.updated'),
    dropBest: p('DELETE FROM best WHERE track = ?'),
    contentSize: p('SELECT bytes FROM content WHERE hash = ?'),
    putContent: p('INSERT INTO content (hash, files, bytes, stored) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE SET stored = excluded.stored'),
    getContent: p('SELECT files FROM content WHERE hash = ?'),
    oldestContent: p('SELECT hash, bytes FROM content ORDER BY stored, hash LIMIT ?'),
    dropContent: p('DELETE FROM content WHERE hash = ?')
  }
}
