/** Reachability and link kinds from what libp2p knows (pure: no network). */
import { isLoopback, isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { linkText, reachabilityLine } from '../node/network-status.ts'
import { classifyReachability, linkOf, relaysOf } from '../node/reachability/index.ts'

const RELAY = '12D3KooWRiK4YCQfLoKEgXAruUgm9en2ZKYtPjLpoV86JB4uPKv5'
const ME = '12D3KooWD8UwpVAM4mjxySJBS8ijvvg98oftm4SWS5EhuXTyV7Xv'
const priv = (ma: Parameters<typeof isPrivate>[0]): boolean => isPrivate(ma) || isLoopback(ma)
const addr = (s: string, verified: boolean, expires = 0): { multiaddr: ReturnType<typeof multiaddr>, verified: boolean, expires: number } => ({ multiaddr: multiaddr(s), verified, expires })
const NOW = 1_000_000

describe('reachability', () => {
  it('public once a public address is confirmed', () => {
    expect(classifyReachability([addr('/ip4/10.0.0.2/tcp/4011', true), addr('/ip4/11.0.0.3/tcp/4011', true)], priv, NOW)).toBe('public')
  })
  it('unknown while a public address awaits AutoNAT', () => {
    expect(classifyReachability([addr('/ip4/127.0.0.1/tcp/4011', true), addr('/ip4/11.0.0.3/tcp/4011', false, 0)], priv, NOW)).toBe('unknown')
    // An earlier verdict that expired is an open question again.
    expect(classifyReachability([addr('/ip4/11.0.0.3/tcp/4011', false, NOW - 1)], priv, NOW)).toBe('unknown')
  })
  it('private behind a NAT: no public address, or every one refuted', () => {
    expect(classifyReachability([addr('/ip4/127.0.0.1/tcp/4011', true), addr('/ip4/192.168.1.20/tcp/4011', true)], priv, NOW)).toBe('private')
    expect(classifyReachability([addr('/ip4/11.0.0.3/tcp/4011', false, NOW + 60_000)], priv, NOW)).toBe('private')
    expect(classifyReachability([], priv, NOW)).toBe('private')
  })
  it('a relay address is no public address of ours', () => {
    const relayed = addr(`/ip4/11.0.0.3/tcp/4011/p2p/${RELAY}/p2p-circuit`, true)
    expect(classifyReachability([addr('/ip4/10.0.1.2/tcp/4011', true), relayed], priv, NOW)).toBe('private')
    expect(relaysOf([relayed.multiaddr, multiaddr('/ip4/10.0.1.2/tcp/4011')])).toEqual([RELAY])
  })
})

describe('links', () => {
  it('direct or relayed, the transport, and through whom', () => {
    expect(linkOf({ remoteAddr: multiaddr(`/ip4/11.0.0.3/tcp/4011/p2p/${RELAY}`) })).toEqual({ kind: 'direct', transport: 'tcp', limited: false })
    expect(linkOf({ remoteAddr: multiaddr('/ip4/1.2.3.4/udp/4001/quic-v1') })).toMatchObject({ kind: 'direct', transport: 'quic' })
    expect(linkOf({ remoteAddr: multiaddr('/dns4/a.example/tcp/443/wss') })).toMatchObject({ kind: 'direct', transport: 'websockets' })
    const relayed = linkOf({ remoteAddr: multiaddr(`/ip4/11.0.0.3/tcp/4011/p2p/${RELAY}/p2p-circuit/p2p/${ME}`), limits: { seconds: 120 } })
    expect(relayed).toEqual({ kind: 'relayed', transport: 'tcp', limited: true, relay: RELAY })
    expect(linkText(relayed)).toBe(`relayed tcp via …${RELAY.slice(-6)}`)
    expect(linkText({ kind: 'direct', transport: 'tcp', limited: false })).toBe('direct tcp')
  })
})

describe('the reachability line', () => {
  const base = { local: false, publicAddrs: [], relays: [], relaying: false, reservations: 0 }
  it('says how strangers reach us', () => {
    expect(reachabilityLine({ ...base, reachability: 'public', publicAddrs: ['/ip4/11.0.0.3/tcp/4011'], relaying: true, reservations: 2 }))
      .toBe('reachable: public at /ip4/11.0.0.3/tcp/4011; relaying for nodes behind NATs (2 reservations)')
    expect(reachabilityLine({ ...base, reachability: 'private', relays: [RELAY] })).toMatch(/^reachable: private \(behind a NAT\), through relay …/)
    expect(reachabilityLine({ ...base, reachability: 'private' })).toMatch(/looking for a relay/)
    expect(reachabilityLine({ ...base, reachability: 'unknown' })).toMatch(/unknown yet/)
    expect(reachabilityLine({ ...base, reachability: 'private', local: true })).toMatch(/local swarm/)
  })
})
