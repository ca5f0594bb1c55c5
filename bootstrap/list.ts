/**
 * The public swarm's bootstrap nodes. Empty until the project runs public
 * bootstrap nodes: a public swarm forms today through mDNS on a LAN or
 * `--bootstrap` addresses, and anyone can run one with `swarm-node bootstrap`.
 * A private swarm (`--swarm-key`) never uses this list.
 */
export const PUBLIC_BOOTSTRAP: readonly string[] = []
