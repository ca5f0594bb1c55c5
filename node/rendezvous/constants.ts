/**
 * Defaults of rendezvous on the public Amino DHT, named once. Amino's own
 * figures (kad-dht): provider records stay valid for 48 h; K = 20.
 */

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** The public DHT's protocol: kubo, Helia and every Amino node speak it. */
export const AMINO_PROTOCOL = '/ipfs/kad/1.0.0'

/**
 * Re-provide this often: well inside the 48 h a provider record lives, so a
 * record survives one missed round (a laptop asleep, a failed query). kubo
 * re-provides every 22 h; we announce fewer keys and can afford twice a day.
 */
export const REPROVIDE_INTERVAL_MS = 12 * HOUR
/** After our public addresses change (a relay reservation, a confirmed address), announce again after this pause. */
export const READDRESS_DELAY_MS = 2 * SECOND
/** While short of members, look up providers again after this, doubling up to LOOKUP_MAX_MS. */
export const LOOKUP_MIN_MS = 5 * SECOND
export const LOOKUP_MAX_MS = 5 * MINUTE
/** One provide or one provider lookup, whole query. */
export const QUERY_TIMEOUT_MS = 60 * SECOND
/** One dial of a provider or of an Amino bootstrap peer. */
export const DIAL_TIMEOUT_MS = 10 * SECOND
/** Providers dialled per lookup: enough to reach the member target without storming the swarm. */
export const MAX_DIALS_PER_LOOKUP = 8
/** Amino bootstrap peers are shared by all of IPFS: redial them at most this often. */
export const BOOTSTRAP_REDIAL_MS = 5 * MINUTE
