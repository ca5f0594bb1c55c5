#!/usr/bin/env node
// Entry point: install the Node 20 shims before anything imports libp2p, then
// load the TypeScript CLI through tsx (no build step).
import '../node/polyfills.js'
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../node/cli.ts')
process.exitCode = await main(process.argv)
