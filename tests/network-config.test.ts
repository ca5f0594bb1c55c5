import { describe, expect, it } from 'vitest'
import { PUBLIC_BOOTSTRAP } from '../bootstrap/list.ts'
import { planNetwork, publicBootstrapList } from '../node/network-config.ts'

const PUBLIC = ['/dns4/boot.example/tcp/4001/p2p/12D3KooWPublic']
const MINE = '/ip4/127.0.0.1/tcp/5000/p2p/12D3KooWMine'
const STANDIN = '/ip4/11.0.0.2/tcp/4001/p2p/12D3KooWStandin'

describe('network plan', () => {
  it('public swarm: default port, only the given swarm peers, Amino through the public list, NAT traversal, mDNS and UPnP on', () => {
    const p = planNetwork({ bootstrap: [MINE] }, PUBLIC)
    expect(p.listen).toEqual(['/ip4/0.0.0.0/tcp/4011'])
    // The public peers are Amino's, not swarm members: they never go to the swarm's bootstrap list.
    expect(p.bootstrap).toEqual([MINE])
    expect(p.amino).toEqual(PUBLIC)
    expect(p.mdns).toBe(true)
    expect(p.private).toBe(false)
    expect(p.nat).toBe(true)
    expect(p.upnp).toBe(true)
    expect(planNetwork({ upnp: false }, PUBLIC).upnp).toBe(false)
  })
  it('private swarm never touches Amino and keeps mDNS off unless asked', () => {
    const p = planNetwork({ swarmKey: 'k', bootstrap: [MINE] }, PUBLIC)
    expect(p.bootstrap).toEqual([MINE])
    expect(p.amino).toBeNull()
    expect(p.mdns).toBe(false)
    expect(p.nat).toBe(true)
    expect(planNetwork({ swarmKey: 'k', mdns: true }, PUBLIC).mdns).toBe(true)
    expect(planNetwork({ swarmKey: 'k' }, PUBLIC).bootstrap).toEqual([])
    expect(() => planNetwork({ swarmKey: 'k', aminoBootstrap: [STANDIN] }, PUBLIC)).toThrow(/private swarm/)
    expect(() => planNetwork({ swarmKey: 'k', swarm: 'team' }, PUBLIC)).toThrow(/--swarm/)
  })
  it('a local swarm dials no public peer and needs no NAT traversal, unless stand-ins are named', () => {
    const p = planNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'] }, PUBLIC)
    expect(p.local).toBe(true)
    expect(p.amino).toBeNull()
    expect(p.nat).toBe(false)
    expect(p.upnp).toBe(false)
    expect(planNetwork({ listen: ['/ip4/0.0.0.0/tcp/0'], local: true }, PUBLIC).amino).toBeNull()
    expect(planNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], aminoBootstrap: [STANDIN] }, PUBLIC).amino).toEqual([STANDIN])
  })
  it('--amino-bootstrap replaces the public list; bad addresses are usage errors', () => {
    expect(planNetwork({ aminoBootstrap: [STANDIN, STANDIN] }, PUBLIC).amino).toEqual([STANDIN])
    expect(() => planNetwork({ aminoBootstrap: ['/ip4/11.0.0.2/tcp/4001'] }, PUBLIC)).toThrow(/\/p2p\//)
    expect(() => planNetwork({ aminoBootstrap: ['not a multiaddr'] }, PUBLIC)).toThrow(/--amino-bootstrap/)
    try { planNetwork({ aminoBootstrap: ['x'] }, PUBLIC) } catch (err) { expect((err as { exitCode?: number }).exitCode).toBe(2) }
  })
  it('SWARM_NODE_PUBLIC_BOOTSTRAP replaces the built-in list; empty means none', () => {
    expect(publicBootstrapList({})).toEqual(PUBLIC_BOOTSTRAP)
    expect(publicBootstrapList({ SWARM_NODE_PUBLIC_BOOTSTRAP: '' })).toEqual([])
    expect(publicBootstrapList({ SWARM_NODE_PUBLIC_BOOTSTRAP: ` ${STANDIN},${MINE}\n` })).toEqual([STANDIN, MINE])
    // The test process itself sets it (tests/setup.ts): nothing here can reach the real peers.
    expect(planNetwork({}).amino).toEqual([])
    expect(PUBLIC_BOOTSTRAP.length).toBeGreaterThan(0)
  })
  it('a named public swarm: checked, carried to the rendezvous', () => {
    expect(planNetwork({ swarm: 'team-a.1' }, PUBLIC).swarmName).toBe('team-a.1')
    expect(planNetwork({}, PUBLIC).swarmName).toBeUndefined()
    for (const bad of ['', '-x', 'a b', 'x'.repeat(65), 'ä']) expect(() => planNetwork({ swarm: bad }, PUBLIC), bad).toThrow(/--swarm/)
  })
  it('--port 0 and --listen', () => {
    expect(planNetwork({ port: 0 }).listen).toEqual(['/ip4/0.0.0.0/tcp/0'])
    expect(planNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], port: 9 }).listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(() => planNetwork({ port: 70000 })).toThrow(/--port/)
  })
  it('loopback swarms are local', () => {
    expect(planNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [MINE] }).local).toBe(true)
    expect(planNetwork({ listen: ['/ip4/0.0.0.0/tcp/0'] }).local).toBe(false)
    expect(planNetwork({ listen: ['/ip4/0.0.0.0/tcp/0'], local: true }).local).toBe(true)
  })
})
