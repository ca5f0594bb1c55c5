/**
 * The store's SQLite file: schema, pragmas, and what happens when the file is
 * damaged. WAL mode (readers never wait on the writer; `synchronous=NORMAL`
 * survives a process crash, and at worst loses the last commits on power loss,
 * which peers send again through sync). A file SQLite cannot read is moved
 * aside with a warning, whatever rows can still be read are copied into a fresh
 * database, and the node goes on: the store is the swarm's memory, not the only
 * copy of anything.
 *
 * Byte and message counts per author and in total are kept by triggers, so
 * every path that inserts or deletes a row keeps them right.
 */
import Database, { type Database as Db } from 'better-sqlite3'
import { rename } from 'node:fs/promises'
import { existsSync } from 'node:fs'

export const DB_FILE = 'store.db'
const SCHEMA_VERSION = 1
const WAL_SIZE_LIMIT = 8 * 1024 * 1024

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  author TEXT NOT NULL,
  track TEXT NOT NULL,
  status TEXT,
  result TEXT,
  child TEXT NOT NULL,
  time INTEGER NOT NULL,
  received INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  body TEXT NOT NULL
);
-- sync pages by message time
CREATE INDEX IF NOT EXISTS messages_time ON messages (time, id);
-- quotas and retention per author
CREATE INDEX IF NOT EXISTS messages_author ON messages (author, kind, status, time);
-- attestations of one result; leaderboard keeps per track; who ran a content
CREATE INDEX IF NOT EXISTS messages_result ON messages (result) WHERE kind = 'attestation';
CREATE INDEX IF NOT EXISTS messages_keeps ON messages (track, time) WHERE kind = 'result' AND status = 'keep';
CREATE INDEX IF NOT EXISTS messages_child ON messages (child);
-- the global age-out order when the store is full: discards first, oldest stored first
CREATE INDEX IF NOT EXISTS messages_discards ON messages (seq) WHERE kind = 'result' AND status != 'keep';

CREATE TABLE IF NOT EXISTS authors (
  author TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL DEFAULT 0,
  kept_bytes INTEGER NOT NULL DEFAULT 0,
  messages INTEGER NOT NULL DEFAULT 0,
  discards INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  bytes INTEGER NOT NULL,
  messages INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals (one, bytes, messages) VALUES (1, 0, 0);

CREATE TRIGGER IF NOT EXISTS messages_ins AFTER INSERT ON messages BEGIN
  INSERT INTO authors (author) VALUES (NEW.author) ON CONFLICT (author) DO NOTHING;
  UPDATE authors SET
    bytes = bytes + NEW.bytes,
    kept_bytes = kept_bytes + (CASE WHEN NEW.kind = 'attestation' OR NEW.status = 'keep' THEN NEW.bytes ELSE 0 END),
    messages = messages + 1,
    discards = discards + (CASE WHEN NEW.kind = 'result' AND NEW.status != 'keep' THEN 1 ELSE 0 END)
  WHERE author = NEW.author;
  UPDATE totals SET bytes = bytes + NEW.bytes, messages = messages + 1 WHERE one = 1;
END;
CREATE TRIGGER IF NOT EXISTS messages_del AFTER DELETE ON messages BEGIN
  UPDATE authors SET
    bytes = bytes - OLD.bytes,
    kept_bytes = kept_bytes - (CASE WHEN OLD.kind = 'attestation' OR OLD.status = 'keep' THEN OLD.bytes ELSE 0 END),
    messages = messages - 1,
    discards = discards - (CASE WHEN OLD.kind = 'result' AND OLD.status != 'keep' THEN 1 ELSE 0 END)
  WHERE author = OLD.author;
  DELETE FROM authors WHERE author = OLD.author AND messages <= 0;
  UPDATE totals SET bytes = bytes - OLD.bytes, messages = messages - 1 WHERE one = 1;
END;

CREATE TABLE IF NOT EXISTS content (
  hash TEXT PRIMARY KEY,
  files TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  stored INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS content_stored ON content (stored);

CREATE TABLE IF NOT EXISTS best (
  track TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  child TEXT NOT NULL,
  updated INTEGER NOT NULL
) WITHOUT ROWID;
`

/** SQLite's codes for a file that is not (or no longer) a readable database. */
const DAMAGED = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB'])

export function isDamaged (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (DAMAGED.has(code) || code.startsWith('SQLITE_CORRUPT'))
}

function openChecked (path: string): Db {
  const db = new Database(path, { timeout: 5000 })
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    // The WAL is checkpointed every ~4 MiB; after that it shrinks back to this instead of staying at its peak.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`)
    const check = db.pragma('quick_check(1)', { simple: true })
    if (check !== 'ok') throw Object.assign(new Error(`integrity check: ${String(check)}`), { code: 'SQLITE_CORRUPT' })
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > SCHEMA_VERSION) throw new Error(`${path} was written by a newer swarm-node (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade swarm-node`)
    db.exec(SCHEMA)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/**
 * Opens (creating when missing) the store database at `path`. A damaged file
 * is renamed to `<path>.corrupt-<time>` (with its -wal and -shm), a warning
 * says where and why, its readable rows are copied into the fresh file, and
 * the fresh one is returned.
 */
export async function openDatabase (path: string, warn: (message: string) => void): Promise<Db> {
  try {
    return openChecked(path)
  } catch (err) {
    if (!isDamaged(err)) throw err
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path + suffix)) await rename(path + suffix, aside + suffix)
    }
    const db = openChecked(path)
    const saved = salvage(aside, db)
    warn(`the store database ${path} is damaged (${(err as Error).message}): moved to ${aside}; ${saved.messages} messages and ${saved.content} contents were read back from it, the rest comes back from peers through sync`)
    return db
  }
}

/** Copies what can still be read from a damaged database; stops at the first unreadable page of each table. */
function salvage (path: string, into: Db): { messages: number, content: number } {
  let old: Db
  try {
    old = new Database(path, { readonly: true, fileMustExist: true })
  } catch {
    return { messages: 0, content: 0 }
  }
  const copy = (table: string, columns: string[]): number => {
    let n = 0
    try {
      const insert = into.prepare(`INSERT OR IGNORE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`)
      for (const row of old.prepare(`SELECT ${columns.join(', ')} FROM ${table}`).raw().iterate()) {
        if (insert.run(...(row as unknown[])).changes > 0) n++
      }
    } catch {}
    return n
  }
  try {
    const messages = copy('messages', ['id', 'kind', 'author', 'track', 'status', 'result', 'child', 'time', 'received', 'bytes', 'body'])
    const content = copy('content', ['hash', 'files', 'bytes', 'stored'])
    copy('best', ['track', 'body', 'child', 'updated'])
    return { messages, content }
  } finally {
    old.close()
  }
}
