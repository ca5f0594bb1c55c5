/**
 * Where members of a public swarm meet on the public libp2p DHT (Amino): the
 * CID they announce themselves as providers of. Every node of a project (and
 * of a named public swarm, `--swarm NAME`) must derive the same CID, so the
 * recipe lives here: CIDv1, raw codec, sha256 of a namespace string built
 * from the project id and the optional swarm name.
 *
 * A swarm name only chooses whom a node meets; it is not a secret (anyone may
 * compute the CID). Keeping strangers out is what a private swarm's key does.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { PROTOCOL_VERSION } from './constants.ts'
import { describe, fail } from './errors.ts'
import { checkHash } from './schema.ts'
import { PROTOCOL_PREFIX } from './topics.ts'

/** A public swarm's name: short, printable, safe in a namespace path. */
export const SWARM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function checkSwarmName (value: unknown, field = 'swarm'): string {
  if (typeof value !== 'string' || !SWARM_NAME_PATTERN.test(value)) {
    fail('bad-field', field, `must be 1-64 letters, digits, ".", "_" or "-" (starting with a letter or digit), got ${describe(value)}`)
  }
  return value
}

/** `/swarm-node/1/<project>/rendezvous`, or `.../rendezvous/<swarm name>` for a named public swarm. */
export function rendezvousNamespace (project: string, swarm?: string): string {
  checkHash(project, 'project')
  const base = `${PROTOCOL_PREFIX}/${PROTOCOL_VERSION}/${project}/rendezvous`
  return swarm == null ? base : `${base}/${checkSwarmName(swarm)}`
}

/**
 * Where `swarm-node bootstrap` nodes (hubs: reachable, relaying, following any
 * project their peers join) announce themselves, so that a newcomer behind a
 * NAT finds a relay and a gossip hub before any member of its project.
 */
export const HUBS_NAMESPACE = `${PROTOCOL_PREFIX}/${PROTOCOL_VERSION}/hubs`

/** The CID a swarm's members provide and look up on Amino. */
export async function rendezvousCid (namespace: string): Promise<CID> {
  if (typeof namespace !== 'string' || namespace === '') fail('bad-field', 'namespace', `must be a non-empty string, got ${describe(namespace)}`)
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(namespace)))
}
