/**
 * The public peers a public swarm starts from: the bootstrap peers of the
 * IPFS Amino DHT (`/ipfs/kad/1.0.0`), as kubo and Helia publish them (kubo's
 * `config/bootstrap_peers.go`; only the ones reachable over TCP, our one
 * transport). A public node joins Amino through them and finds its swarm by
 * rendezvous there (`node/rendezvous/`), so the project needs no servers of
 * its own.
 *
 * Dialled only by a node that joins the public swarm on purpose: never by
 * `--offline`, `--local` or a private swarm, and never by a process that sets
 * `SWARM_NODE_PUBLIC_BOOTSTRAP` (empty: none; else the list to use instead),
 * as every test, benchmark and CI run does. `--amino-bootstrap` replaces it too.
 * The `/dnsaddr/` entries need DNS, resolved only when dialled.
 */
export const PUBLIC_BOOTSTRAP: readonly string[] = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ'
]

/** Set (even empty) in every test, benchmark and CI process: replaces PUBLIC_BOOTSTRAP. */
export const PUBLIC_BOOTSTRAP_ENV = 'SWARM_NODE_PUBLIC_BOOTSTRAP'
