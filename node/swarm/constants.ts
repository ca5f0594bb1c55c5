/**
 * Defaults of the swarm service and its policy, named once: the components'
 * intervals and deadlines, the trust book's weights, the adoption budget.
 * Wire limits peers must agree on live in `protocol/constants.ts`; these are
 * one node's choices.
 */

// --- components ---------------------------------------------------------------

/** Heartbeat (status message) interval. */
export const STATUS_INTERVAL_MS = 30_000
/** How often the DHT's best record for our track is read (and ours written where it ranks better here). */
export const BEST_REFRESH_MS = 60_000
/** One DHT read of the best record. */
export const BEST_GET_TIMEOUT_MS = 15_000
/** One DHT write of the best record. */
export const BEST_PUT_TIMEOUT_MS = 30_000
/**
 * Least time between two DHT rounds an offer starts (the first goes at once):
 * every round makes the closest peers validate records full of signatures.
 */
export const BEST_ROUND_GAP_MS = 15_000
/**
 * Attestations carried in a record this node writes (the protocol allows 32):
 * every peer that stores or reads the record checks each signature, and a
 * handful of reproductions is as good a hint as 32.
 */
export const BEST_RECORD_ATTESTATIONS = 8
/** A peer is synced with again at most this often. */
export const SYNC_AGAIN_AFTER_MS = 60_000
/** Anti-entropy: this often the connected peer synced least recently is asked again (within SYNC_AGAIN_AFTER_MS). */
export const SYNC_ROUND_MS = 15_000
/** Each sync reaches back this far before the last one: clocks differ and dedup is cheap. */
export const SYNC_OVERLAP_MS = 10 * 60_000
/**
 * Peers whose last sync is remembered; the least recently tried are forgotten
 * first. Peer ids are free: a peer forgotten only costs a sync from the start.
 */
export const SYNC_MAX_PEERS = 4096

// --- request/response protocols -----------------------------------------------

/** Whole exchange of one fetch, sync page or leaderboard request. */
export const PROTOCOL_TIMEOUT_MS = 10_000
export const SYNC_PAGE = 100
export const SYNC_MAX_PAGES = 20
/** Rows a leaderboard answer covers per track (each row: its result and attestations, signed). */
export const LEADERBOARD_MAX_ROWS = 20
/** Attestations sent per row of a leaderboard answer. */
export const LEADERBOARD_ATTESTATIONS_PER_ROW = 16
/** Frames of one leaderboard answer: rows x (result + attestations), plus the end marker. */
export const LEADERBOARD_MAX_FRAMES = LEADERBOARD_MAX_ROWS * (1 + LEADERBOARD_ATTESTATIONS_PER_ROW) + 1
export const FETCH_RATE_PER_MINUTE = 60
export const SYNC_RATE_PER_MINUTE = 120
export const LEADERBOARD_RATE_PER_MINUTE = 30

// --- adoption: prefetch and budget --------------------------------------------

/** Claims waiting to be reproduced; beyond this the least promising are dropped. */
export const ADOPTION_MAX_PENDING = 256
/** Claims on faith (an author not verified here, no trusted evidence) queued per author; its newest stay. */
export const ADOPTION_MAX_FAITH_PER_AUTHOR = 4
/** Claims whose content is fetched at the same time. */
export const PREFETCH_CONCURRENCY = 2
/** One fetch of a claim's content from one peer. */
export const PREFETCH_PEER_TIMEOUT_MS = 10_000
/** All fetches of one claim's content together: then the claim is dropped and counts against its author. */
export const PREFETCH_DEADLINE_MS = 30_000
/** Peers asked for one claim's content (the author, who ran it, anyone connected). */
export const PREFETCH_MAX_PEERS = 6
/**
 * Rounds of asking before a claim's content counts as not served, when every
 * peer asked refused or dropped the stream quickly: a link that flaps (a
 * relayed one, a peer restarting) must not cost an honest author its result.
 * A round that runs into PREFETCH_DEADLINE_MS (a peer holding the stream) is
 * the last. The rounds are spaced by PREFETCH_RETRY_MS, then twice that.
 */
export const PREFETCH_ROUNDS = 3
export const PREFETCH_RETRY_MS = 15_000
/**
 * A claim by an author this node has not verified costs a run on faith. Such
 * runs are spaced: at most one in this many experiments overall, and one per
 * author in NEW_AUTHOR_EVERY; a node with nothing else to do (its proposer is
 * idle) spends them freely, one claim at a time.
 */
export const UNVERIFIED_EVERY = 2
export const NEW_AUTHOR_EVERY = 5
/**
 * Runs on faith go one at a time: the next waits for the verdict on the last
 * (it may unmask the next claim's vouchers), or this long at most.
 */
export const AWAIT_VERDICT_MAX_MS = 10 * 60_000
/**
 * Reproducing a result for the swarm goes by turns among the trusted peers
 * connected (adoption.ts: reproduceRank): each waits this long per place for
 * an earlier peer's claim, so one runs it and the others adopt on its
 * attestation. Enough for a claim to cross the swarm.
 */
export const REPRODUCE_STAGGER_MS = 2_000
/**
 * A claimed gain this far beyond the largest gain this node has verified waits
 * for a trusted peer's reproduction before this node spends a run on it: more
 * than FAR_GAIN_FACTOR x that gain and more than FAR_GAIN_MARGINS noise margins.
 */
export const FAR_GAIN_FACTOR = 3
export const FAR_GAIN_MARGINS = 5
/**
 * ...for at most this many of this node's experiments: then it is rationed like
 * any claim on faith, so a real breakthrough is not stuck where nobody is
 * trusted yet, and a lie still costs one run in UNVERIFIED_EVERY at most.
 */
export const FAR_GAIN_PATIENCE = 20
/**
 * A keep's change is carried onto a baseline that moved on (a stacked
 * candidate) only when it gained at least this many noise margins on its own
 * parent. A stack costs a run that would have tried a fresh idea, and a small
 * gain often does not survive the move: on the landscape's model
 * (`npm run model:swarm`, 240 seeds) stacking every keep a margin better made
 * 12 % of a swarm's runs stacks, 64 % of them kept, and left the swarm slower
 * than no stacking at all (4.50x one node at K = 8 against 4.78x); from 3
 * margins, 6 % of runs, 87 % kept, 5.0x.
 */
export const STACK_MIN_MARGINS = 3

// --- trust (node/swarm/trust.ts) ------------------------------------------------

/** Our own kept reproduction of an author's claim: it delivered a real improvement. Counted up to OWN_OK_MAX times. */
export const OWN_OK = 1
export const OWN_OK_MAX = 3
/** Our own measurement far worse than its claim (or attesting such a claim as reproduced): a lie. */
export const OWN_LIE = 4
/** A claim whose content nobody served: it could not be checked, and it cost us fetches. */
export const UNSERVED = 0.75
/** A trusted attester's reproduction, times its weight; third parties together add at most THIRD_PARTY_MAX. */
export const OTHERS_OK = 0.25
export const THIRD_PARTY_MAX = 1
/** A trusted attester's report of a lie, times its weight. */
export const OTHERS_LIE = 1
/** Below this an author's results are neither stored, forwarded nor adopted. */
export const DISTRUST_BELOW = -1
/** Attester weight per claim of theirs this node kept, capped: unknown keys weigh nothing. */
export const ATTESTER_WEIGHT_PER_KEEP = 0.5
export const ATTESTER_WEIGHT_CAP = 1
/** In a private swarm every member (holder of the key) weighs this much as an attester. */
export const MEMBER_WEIGHT = 0.5
/** Trusted reproductions (summed weight) that put a row in the reproduced tier. */
export const REPRODUCED_MIN_WEIGHT = 0.5

/** The claim rule's margin for a project whose manifest this node lacks (the manifest's default). */
export const FOREIGN_PROJECT_MARGIN = 0.02
