/**
 * What a node process stored, read from its store database (read-only, so the
 * node may still be running: WAL lets a reader in beside the writer).
 */
import Database from 'better-sqlite3'
import { join } from 'node:path'
import type { AttestationMsg, ResultMsg } from '../../protocol/index.ts'

export function storedMessages (home: string, project: string): Array<ResultMsg | AttestationMsg> {
  const db = new Database(join(home, 'store', project, 'store.db'), { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT body FROM messages ORDER BY seq').all() as Array<{ body: string }>).map(r => JSON.parse(r.body))
  } finally {
    db.close()
  }
}
