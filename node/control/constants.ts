/**
 * Defaults of the control API (the running node's local HTTP interface for
 * the CLI and the dashboard), named once.
 */

/** File in the node home that says where the API listens and holds its token. */
export const CONTROL_FILE = 'control.json'
/** The API binds loopback only: it answers the operator, never the network. */
export const CONTROL_HOST = '127.0.0.1'
/** Env var that picks the control port (0 or unset: a free one). */
export const CONTROL_PORT_ENV = 'SWARM_NODE_CONTROL_PORT'
/** Random bytes in the token (hex in the file). */
export const TOKEN_BYTES = 32
/** A CLI command waits this long for the node's answer. */
export const CLIENT_TIMEOUT_MS = 10_000
/** At most this many dashboards/feeds listening at once. */
export const MAX_SSE_CLIENTS = 16
/** Comment line that keeps an idle event stream (and its proxies) open. */
export const SSE_HEARTBEAT_MS = 15_000
/** Feed events a new subscriber gets replayed. */
export const FEED_REPLAY = 50
/** Live progress lines forwarded to the feed at most this often. */
export const PROGRESS_EVERY_MS = 1000
/** Results of the swarm served for the chart (newest kept). */
export const MAX_CHART_RESULTS = 5000
/** A leaderboard question to the swarm gives up after this long. */
export const SWARM_QUERY_TIMEOUT_MS = 15_000

/** Exit status of a command that needs a running node and finds none. */
export const EXIT_NO_NODE = 3
/** Exit status of `leaderboard` when no peer of the swarm could be reached. */
export const EXIT_UNREACHABLE = 4
