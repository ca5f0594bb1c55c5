/**
 * Every limit of the wire protocol, named once. Changing one of these changes
 * what peers accept: treat an edit here as a protocol change.
 */

/** The `v` field of every message and record. */
export const PROTOCOL_VERSION = 1

const KiB = 1024

/** Any gossip message, checked on the raw bytes before parsing. */
export const MAX_MESSAGE_BYTES = 64 * KiB
/** A whole encoded Result (also when nested in a best record). */
export const MAX_RESULT_BYTES = 64 * KiB
/** A whole encoded best-baseline DHT record. */
export const MAX_BEST_RECORD_BYTES = 512 * KiB
/** The unified diff of a Result, in UTF-8 bytes (before JSON escaping). */
export const MAX_DIFF_BYTES = 48 * KiB

/** Short human strings, in Unicode code points. */
export const MAX_REASON_CHARS = 200
export const MAX_AGENT_CHARS = 100
export const MAX_DESCRIPTION_CHARS = 300
export const MAX_EXPERIMENT_CHARS = 300
export const MAX_CPU_CHARS = 128
export const MAX_GPU_CHARS = 128
/** A libp2p peer id string (an Ed25519 one is 52 characters). */
export const MAX_PEER_ID_CHARS = 128

/** Result metrics: at most this many keys, each matching METRIC_KEY_PATTERN. */
export const MAX_METRICS = 32
export const METRIC_KEY_PATTERN = /^[a-z][a-z0-9_]{0,47}$/

/** Hardware track, e.g. `cpu`, `gpu-h100`, `apple-m2`. */
export const TRACK_PATTERN = /^[a-z0-9][a-z0-9-]{0,47}$/
/** A sha256 digest: exactly 64 lowercase hex characters. */
export const HASH_PATTERN = /^[0-9a-f]{64}$/

export const MAX_CORES = 4096
export const MAX_RAM_GB = 65536
export const MAX_GPU_MEM_GB = 65536

/** val_bpb and friends must lie in (0, MAX_BPB]. */
export const MAX_BPB = 64

/** Timestamps are integer ms since the epoch, strictly between these. */
export const MIN_TIME_MS = Date.UTC(2020, 0, 1)
export const MAX_TIME_MS = Date.UTC(2200, 0, 1)
/** A claim may last at most this long after its `time`. */
export const MAX_CLAIM_DURATION_MS = 2 * 60 * 60 * 1000
/** Counters in status messages. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER

/** Best record content: at most this many files, paths at most this long. */
export const MAX_CONTENT_FILES = 16
export const MAX_PATH_CHARS = 256
/** Attestations carried by one best record. */
export const MAX_ATTESTATIONS = 32
/**
 * Distinct attesters beyond this many do not raise a record's rank further. One:
 * the tier is "reproduced or not". A higher cap would let an old result with
 * more reproductions shadow a better new one forever in a small swarm, where a
 * new result can only gather as many attesters as there are other nodes.
 */
export const ATTESTER_RANK_CAP = 1

/** projectId: at most this many non-editable files. */
export const MAX_PROJECT_FILES = 100_000

/** Ed25519 signatures are 64 bytes: 88 characters of padded base64. */
export const SIGNATURE_BYTES = 64
/** Nesting depth the canonical encoder accepts (messages need 4; manifests a few more). */
export const MAX_JSON_DEPTH = 32
