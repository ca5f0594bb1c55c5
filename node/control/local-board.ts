/**
 * The leaderboard this home knows without asking anyone: what its node stored
 * from the swarm (`<home>/store/<project id>/`), or, for a home that only ever
 * researched offline, its own kept results. Ranked by the same functions the
 * running node uses; nothing here decides an order of its own.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { wireHardware, type Hardware } from '../../trainer/hardware.ts'
import { ResultsLog } from '../../trainer/results-log.ts'
import { paths } from '../home.ts'
import { computeLeaderboard, type LeaderboardQuery, type LeaderboardRow } from '../swarm/leaderboard.ts'
import { SwarmStore } from '../swarm/store.ts'
import { localBoard } from './board.ts'
import { experimentsPath } from './local-results.ts'

export interface LocalBoard {
  rows: LeaderboardRow[]
  /** Where the rows come from, in words: "this home's store (12 results)". */
  from: string
}

const exists = async (p: string): Promise<boolean> => await stat(p).then(() => true, () => false)

/** The home's peer id, without creating an identity where there is none. */
async function homePeerId (home: string): Promise<string | null> {
  try {
    return peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(paths.identity(home)))).toString()
  } catch {
    return null
  }
}

export async function readLocalBoard (home: string, project: string, q: LeaderboardQuery, hardware: Hardware): Promise<LocalBoard> {
  const storeDir = join(home, 'store', project)
  if (await exists(storeDir)) {
    const store = await SwarmStore.open(storeDir)
    const results = store.results().filter(r => r.project === project)
    if (results.length > 0) {
      return { rows: computeLeaderboard(results, store.attestations(), { ...q, project }), from: `this home's store (${results.length} result${results.length === 1 ? '' : 's'} heard)` }
    }
  }
  const peerId = await homePeerId(home)
  const log = experimentsPath(home, project)
  if (peerId == null || !(await exists(log))) return { rows: [], from: 'this home (nothing recorded)' }
  const history = await new ResultsLog({ tsvPath: '', jsonlPath: log }).readAll()
  return { rows: localBoard(history, { project, peerId, hardware: wireHardware(hardware) }, q), from: 'this home\'s own results log' }
}
