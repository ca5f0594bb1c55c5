/**
 * Stand-ins for the public Amino DHT's bootstrap peers, for tests and
 * benchmarks that must never reach the real ones: plain libp2p nodes running
 * kad-dht on `/ipfs/kad/1.0.0` in server mode, with identify, ping and an
 * AutoNAT v2 server, as kubo nodes run them. They know each other; point
 * swarm nodes at them with `--amino-bootstrap` (or SWARM_NODE_PUBLIC_BOOTSTRAP).
 *
 *   node --import tsx tests/helpers/amino-standin.ts '{"listen":["/ip4/11.0.0.2/tcp/4001","/ip4/11.0.0.2/tcp/4002"]}'
 *
 * One node per listen address. stdout: {type:"ready",addrs:[...one /p2p/ address per node]}.
 * Exits on SIGTERM, SIGINT or when stdin closes.
 */
import '../../node/polyfills.js'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { AMINO_PROTOCOL } from '../../node/rendezvous/index.ts'
import { print, serveCommands, stopper } from './stdio-commands.ts'

const opts = JSON.parse(process.argv[2] ?? '{}') as { listen: string[] }

const nodes: Libp2p[] = await Promise.all(opts.listen.map(async listen => await createLibp2p({
  privateKey: await generateKeyPair('Ed25519'),
  addresses: { listen: [listen] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // Many test hosts come through a few router addresses: don't throttle them.
  connectionManager: { inboundConnectionThreshold: 1000, maxConnections: 1000 },
  services: {
    identify: identify(),
    ping: ping(),
    // As Amino's servers: public addresses only in what they tell others (the default mapper).
    dht: kadDHT({ protocol: AMINO_PROTOCOL, clientMode: false }),
    // v2 only: js-libp2p's v1 server closes the asker's connection (node/reachability/autonat-client.ts).
    autoNATv2: autoNATv2()
  }
})))

// The stand-ins know each other, as the real bootstrap peers do.
// Built from the listen address: a public address is not in getMultiaddrs() until AutoNAT confirms it.
const addrOf = (n: Libp2p, i: number): string => `${opts.listen[i]!}/p2p/${n.peerId.toString()}`
for (const [i, a] of nodes.entries()) {
  for (const [j, b] of nodes.entries()) if (i !== j) await a.dial(multiaddr(addrOf(b, j))).catch(() => {})
}

const stop = stopper({ stop: async () => { await Promise.all(nodes.map(async n => { await n.stop() })) } })
serveCommands(async cmd => cmd.cmd === 'stop' ? await stop() : { type: 'error', error: `unknown command ${String(cmd.cmd)}` }, stop)
print({ type: 'ready', addrs: nodes.map(addrOf) })
