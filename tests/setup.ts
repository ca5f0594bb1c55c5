// libp2p 3's dependencies call Promise.withResolvers, which Node 20 lacks.
import '../node/polyfills.js'
// Nothing a test starts may dial the public bootstrap peers or resolve their names: empty = none.
process.env.SWARM_NODE_PUBLIC_BOOTSTRAP = ''
