/**
 * Names on the network: the gossip topic per project, the DHT key per project
 * and track, and the stream protocol ids. Built here and nowhere else.
 */
import { fromString as utf8Bytes } from 'uint8arrays/from-string'
import { toString as utf8Text } from 'uint8arrays/to-string'
import { PROTOCOL_VERSION } from './constants.ts'
import { describe, fail } from './errors.ts'
import { checkHash, checkTrack } from './schema.ts'

/** First segment of every stream protocol id and topic. */
export const PROTOCOL_PREFIX = '/swarm-node'

/** Stream protocol id from name and version, e.g. `/swarm-node/fetch/1.0.0`. */
export function protocolId (name: string, version = '1.0.0'): string {
  return `${PROTOCOL_PREFIX}/${name}/${version}`
}

/** Fetch a baseline's content by hash. */
export const FETCH_PROTOCOL = protocolId('fetch')
/** Catch up on results missed while offline. */
export const SYNC_PROTOCOL = protocolId('sync')
/** Ask a peer for its leaderboard view. */
export const LEADERBOARD_PROTOCOL = protocolId('leaderboard')
/** Our private Kademlia protocol, so we never mix with the public IPFS DHT. */
export const KAD_PROTOCOL = protocolId('kad')

/**
 * One GossipSub topic per project carries every message kind: peers of one
 * project see each other's results, claims, attestations and status in order,
 * and a subscriber needs one topic validator.
 */
export function topicFor (project: string): string {
  checkHash(project, 'project')
  return `${PROTOCOL_PREFIX}/${PROTOCOL_VERSION}/${project}/results`
}

const TOPIC_PATTERN = new RegExp(`^${PROTOCOL_PREFIX}/${PROTOCOL_VERSION}/([0-9a-f]{64})/results$`)

/** The project id of a topic made by `topicFor`. */
export function parseTopic (topic: string): string {
  const match = typeof topic === 'string' ? TOPIC_PATTERN.exec(topic) : null
  if (match?.[1] == null) fail('bad-key', 'topic', `is not a swarm-node results topic, got ${describe(topic)}`)
  return match[1]
}

/** kad-dht validators and selectors are looked up by this first key segment. */
export const BEST_KEY_PREFIX = 'swarm-best'

/** DHT key of the best baseline: `/swarm-best/<project>/<track>` as UTF-8 bytes. */
export function bestKey (project: string, track: string): Uint8Array {
  checkHash(project, 'project')
  checkTrack(track, 'track')
  return utf8Bytes(`/${BEST_KEY_PREFIX}/${project}/${track}`)
}

/** Inverse of `bestKey`; throws ProtocolError('bad-key') on anything else. */
export function parseBestKey (key: Uint8Array): { project: string, track: string } {
  const text = key instanceof Uint8Array ? utf8Text(key) : ''
  const parts = text.split('/')
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== BEST_KEY_PREFIX) {
    fail('bad-key', 'key', `must be /${BEST_KEY_PREFIX}/<project>/<track>, got ${describe(text)}`)
  }
  const project = parts[2] ?? ''
  const track = parts[3] ?? ''
  try {
    checkHash(project, 'key.project')
    checkTrack(track, 'key.track')
  } catch (err) {
    fail('bad-key', 'key', (err as Error).message)
  }
  // Decoding is lossy on invalid UTF-8: insist the bytes are exactly what bestKey makes.
  const again = bestKey(project, track)
  if (again.byteLength !== key.byteLength || again.some((b, i) => b !== key[i])) fail('bad-key', 'key', 'is not in canonical form')
  return { project, track }
}
