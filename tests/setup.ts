// libp2p 3's dependencies call Promise.withResolvers, which Node 20 lacks.
import '../node/polyfills.js'
