/** Every default the LLM and external-agent proposers use, named in one place. */

/** OpenAI's own endpoint: where a key without a base URL goes. */
export const OPENAI_BASE_URL = 'https://api.openai.com/v1'
/** The model asked of OpenAI's endpoint when none is named; other servers are asked which they serve. */
export const DEFAULT_OPENAI_MODEL = 'gpt-4.1-mini'
/** Local servers (Ollama, llama.cpp, vLLM without --api-key) ignore the key, but the client needs one. */
export const NO_KEY = 'not-needed'

/** The model's context window the prompt is fitted into (approximate tokens). */
export const DEFAULT_CONTEXT_TOKENS = 16_384
/** Room kept for the reply: SEARCH/REPLACE blocks are short, a whole file is not. */
export const DEFAULT_REPLY_TOKENS = 4096
/** One HTTP request, headers and body: a local model on a CPU can be slow. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000
/** Retries of one request after a timeout, a 429, a 5xx or a garbled body. */
export const DEFAULT_MAX_RETRIES = 4
/**
 * Of those, retries after a timeout: a server that hung once mostly hangs
 * again, and each costs a whole --llm-timeout before the mutation fallback.
 */
export const MAX_TIMEOUT_RETRIES = 1
export const DEFAULT_BACKOFF_MS = 2000
export const MAX_BACKOFF_MS = 60_000
/** Replies the model may send per proposal before the proposer gives up (each refused one is explained to it). */
export const DEFAULT_EDIT_ATTEMPTS = 3
/** A reply longer than this is not an edit of a 256 KB file; it is refused unread. */
export const MAX_REPLY_CHARS = 1024 * 1024

/** How long an external agent command may work on one proposal. */
export const DEFAULT_AGENT_TIMEOUT_S = 1800
/** Between SIGTERM and SIGKILL of the agent's process group. */
export const AGENT_KILL_GRACE_MS = 5000
/** Files under the run outputs an agent run is checked against (beyond this, the check is partial). */
export const MAX_WATCHED_OUTPUT_FILES = 2000

/** Fixes a proposer may try on its own crashed candidate (autoresearch: fix what is easy, then move on). */
export const DEFAULT_MAX_REPAIRS = 2
