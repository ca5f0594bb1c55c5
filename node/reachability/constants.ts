/**
 * Defaults of NAT traversal, named once. Relay limits follow go-libp2p's
 * circuit v2 defaults in duration; the data limit is larger so that one
 * content fetch (at most 512 KiB, protocol/constants.ts) fits on our relays.
 */

const SECOND = 1000
const MINUTE = 60 * SECOND
const KiB = 1024

/** Reservations a relay holds at once (circuit-relay-v2's default). */
export const RELAY_MAX_RESERVATIONS = 15
/** A relayed connection through us is closed after this long... */
export const RELAY_DURATION_LIMIT_MS = 2 * MINUTE
/** ...or after this many bytes each way, whichever comes first. */
export const RELAY_DATA_LIMIT_BYTES = 1024 * KiB
/** How long a reservation on us lasts before the node behind the NAT must renew it. */
export const RELAY_RESERVATION_TTL_MS = 60 * MINUTE
/** The listen address that makes the relay transport find a relay and hold a reservation on it. */
export const RELAY_SEARCH_ADDR = '/p2p-circuit'
/** A node behind a NAT waits this long after start before deciding a relay search is needed (UPnP may map a port first). */
export const RELAY_SEARCH_DELAY_MS = 1 * SECOND
