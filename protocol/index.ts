/**
 * swarm-node's wire protocol: every message kind that crosses GossipSub, the
 * best-baseline record kept in the DHT, their limits, canonical encoding,
 * Ed25519 signatures, hashes, topic names, DHT keys and stream protocol ids.
 * Pure: no I/O; bytes in, typed objects out, or a ProtocolError with a stable
 * `code` and the offending `field`.
 *
 * @example
 * ```ts
 * import { generateKeyPair } from '@libp2p/crypto/keys'
 * import { signMessage, encodeMessage, decodeMessage, topicFor } from './protocol/index.ts'
 *
 * const key = await generateKeyPair('Ed25519')
 * const result = await signMessage({ v: 1, kind: 'result', project, track: 'cpu', ...fields }, key)
 * await pubsub.publish(topicFor(project), encodeMessage(result))
 * // on receipt, from any peer:
 * const msg = await decodeMessage(bytes, { expectProject: project }) // throws ProtocolError
 *
 * // DHT
 * kadDHT({ validators: { [BEST_KEY_PREFIX]: validateBestRecord },
 *          selectors: { [BEST_KEY_PREFIX]: selectBestRecord } })
 * ```
 */
export * from './constants.ts'
export { ProtocolError } from './errors.ts'
export type { ProtocolErrorCode } from './errors.ts'
export { encode, encodeToString, encodeUnsigned, compareCodeUnits, utf8Length } from './canonical.ts'
export { sha256Hex, contentHash, projectId, messageId } from './hash.ts'
export type { ProjectFile } from './hash.ts'
export { checkRelativePath } from './schema.ts'
export { validateMessage, parseMessage, encodeMessage } from './messages.ts'
export { decodeMessage } from './decode.ts'
export type { DecodeOptions } from './decode.ts'
export { signMessage, verifyMessage, publicKeyOf } from './sign.ts'
export { checkBestRecord, parseBestRecord, encodeBestRecord } from './best-record.ts'
export { validateBestRecord, selectBestRecord, parseBestRecordForKey } from './dht-record.ts'
export {
  EVIDENCE_KINDS, rankKey, compareRanked, compareKeys, recordEvidence, rankBestRecord, compareBestRecords, median
} from './rank.ts'
export type { BestRank, Evidence, EvidenceKind, Rankable, RankKey } from './rank.ts'
export { figureOf, claimedFigure, wireFigures } from './figure.ts'
export type { Figures } from './figure.ts'
export {
  PROTOCOL_PREFIX, protocolId, FETCH_PROTOCOL, SYNC_PROTOCOL, LEADERBOARD_PROTOCOL, KAD_PROTOCOL,
  topicFor, parseTopic, BEST_KEY_PREFIX, bestKey, parseBestKey
} from './topics.ts'
export { RESULT_STATUSES, MESSAGE_KINDS } from './types.ts'
export type {
  Hash, Hardware, ResultStatus, ResultMsg, AttestationMsg, ClaimMsg, StatusMsg, Content, BestRecord,
  Message, MessageKind, Signed, Unsigned, SignedOf
} from './types.ts'
export { SWARM_NAME_PATTERN, HUBS_NAMESPACE, checkSwarmName, rendezvousNamespace, rendezvousCid } from './rendezvous.ts'
