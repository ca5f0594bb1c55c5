/**
 * Defaults of the libp2p layer, named once. Wire limits that peers must agree
 * on live in `protocol/constants.ts`; these are local choices a node may tune.
 */

const KiB = 1024
const MiB = 1024 * KiB

/** TCP port a node listens on unless told otherwise. */
export const DEFAULT_TCP_PORT = 4011
export const DEFAULT_LISTEN = [`/ip4/0.0.0.0/tcp/${DEFAULT_TCP_PORT}`]

// --- connections ---------------------------------------------------------

/** Enough for a mesh plus DHT queries; a research node is not a hub. */
export const DEFAULT_MAX_CONNECTIONS = 64
/** With the public DHT: its queries touch dozens of peers, and AutoNAT stops verifying above 80 % of the cap. */
export const AMINO_MAX_CONNECTIONS = 128
/**
 * A bootstrap node (hub): every newcomer dials it and every node short of
 * members redials it. Under a small cap it prunes links, the pruned fall short
 * and redial it, and the swarm churns instead of forming (seen at 100 nodes).
 */
export const HUB_MAX_CONNECTIONS = 512
/**
 * Inbound handshakes a hub runs at once (libp2p's default is 10). Over slow
 * links, or from busy peers, a handshake takes seconds; newcomers beyond the
 * cap are refused, time out, and dial again.
 */
export const HUB_MAX_PENDING_INBOUND = 64
/**
 * New inbound connections per second per remote host. libp2p's default (5)
 * silently drops members of a local swarm where every peer is 127.0.0.1.
 */
export const LOCAL_INBOUND_CONNECTION_THRESHOLD = 1000
/** One dial, all addresses of the peer together. */
export const DIAL_TIMEOUT_MS = 10_000

// --- peer exchange ---------------------------------------------------------

/**
 * Connections to swarm members each node keeps by dialling them itself. A
 * star around the bootstrap node gossips slowly and loses messages; with >= 4
 * outbound links per node gossip stays fast (see LIBP2P-NOTES).
 */
export const PEER_EXCHANGE_MIN_PEERS = 4
/** How often a node below its target looks for more peers. */
export const PEER_EXCHANGE_INTERVAL_MS = 15_000
/** First look after start: long enough for the bootstrap dial and identify. */
export const PEER_EXCHANGE_FIRST_DELAY_MS = 500
/** One DHT closest-peers walk. */
export const PEER_EXCHANGE_QUERY_TIMEOUT_MS = 10_000
/** A peer that failed a dial is not tried again by peer exchange for this long. */
export const PEER_EXCHANGE_RETRY_AFTER_MS = 60_000
/** Peer-store tag on swarm members: the connection manager prunes lower-valued peers first. */
export const MEMBER_TAG = 'swarm-member'
export const MEMBER_TAG_VALUE = 50
/** Candidates named by the swarm's DHT or mDNS that peer exchange remembers. */
export const PEER_EXCHANGE_MAX_DISCOVERED = 1024

// --- gossipsub ---------------------------------------------------------------

/**
 * Inbound cap on one gossip RPC frame. Results are <= 64 KiB; the headroom
 * matters because an over-size frame silently breaks the peer link.
 */
export const GOSSIP_MAX_MESSAGE_BYTES = 1 * MiB
/** Mesh degree for swarms of a handful to a few dozen nodes. */
export const GOSSIP_D = 4
export const GOSSIP_DLO = 3
export const GOSSIP_DHI = 8
/** Must be < Dlo and <= D/2. */
export const GOSSIP_DOUT = 1
export const GOSSIP_DSCORE = 2
export const GOSSIP_DLAZY = 4
export const GOSSIP_HEARTBEAT_MS = 1000
/**
 * GossipSub 1.2 sends IDONTWANT to every other mesh peer on the first copy of a
 * message at least this large. GossipSub's default (512 bytes) suits its
 * megabyte blocks; our messages are a few KiB, each IDONTWANT is a frame of its
 * own that costs about what the duplicate it may save, and on a fast link it
 * rarely arrives before the duplicate is sent. Measured on 8 nodes of a private
 * swarm sharing 2 cores: 10 % less CPU per node. Only diffs this large get them.
 */
export const GOSSIP_IDONTWANT_MIN_BYTES = 16 * 1024

// --- gossipsub topic scoring ------------------------------------------------

/**
 * P4, the invalid-message penalty, is squared: with weight -10 one rejected
 * message puts the forwarder at the gossip threshold (-10), three put it below
 * the graylist threshold (-80).
 */
export const SCORE_INVALID_WEIGHT = -10
/** Per decay interval (1 s): the count halves in about ten minutes. */
export const SCORE_INVALID_DECAY = 0.99885
/** P2, first deliveries: a small reward for useful forwarders, decays in ~10 s. */
export const SCORE_FIRST_DELIVERY_WEIGHT = 1
export const SCORE_FIRST_DELIVERY_DECAY = 0.9
export const SCORE_FIRST_DELIVERY_CAP = 10
/** P1, time in mesh: up to +3 after five minutes. */
export const SCORE_TIME_IN_MESH_WEIGHT = 0.01
export const SCORE_TIME_IN_MESH_CAP = 300

// --- request/response streams ---------------------------------------------

/** Frames a response may have unless the caller allows more. */
export const STREAM_DEFAULT_MAX_FRAMES = 1
/** Concurrent inbound streams per connection for one protocol. */
export const STREAM_MAX_INBOUND_PER_CONNECTION = 8
export const STREAM_MAX_OUTBOUND_PER_CONNECTION = 16
/** Error frames are short JSON; anything longer is a protocol violation. */
export const STREAM_MAX_ERROR_BYTES = 1 * KiB
/** Peers remembered by one rate limiter; the oldest are forgotten first. */
export const RATE_LIMIT_MAX_PEERS = 4096
/**
 * A protocol serves all peers together this many times one peer's rate: a
 * swarm catching up at once fits, an attacker minting peer ids does not make
 * the handler's work (a leaderboard over the whole store) unbounded.
 */
export const STREAM_TOTAL_RATE_FACTOR = 20
