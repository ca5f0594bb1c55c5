import { describe, expect, it } from 'vitest'
import { planNetwork } from '../node/network-config.ts'

const PUBLIC = ['/dns4/boot.example/tcp/4011/p2p/12D3KooWPublic']
const MINE = '/ip4/127.0.0.1/tcp/5000/p2p/12D3KooWMine'

describe('network plan', () => {
  it('public swarm: default port, public list plus given addresses, mDNS on', () => {
    const p = planNetwork({ bootstrap: [MINE] }, PUBLIC)
    expect(p.listen).toEqual(['/ip4/0.0.0.0/tcp/4011'])
    expect(p.bootstrap).toEqual([MINE, ...PUBLIC])
    expect(p.mdns).toBe(true)
    expect(p.private).toBe(false)
  })
  it('private swarm never dials the public list and keeps mDNS off unless asked', () => {
    const p = planNetwork({ swarmKey: 'k', bootstrap: [MINE] }, PUBLIC)
    expect(p.bootstrap).toEqual([MINE])
    expect(p.mdns).toBe(false)
    expect(planNetwork({ swarmKey: 'k', mdns: true }, PUBLIC).mdns).toBe(true)
    expect(planNetwork({ swarmKey: 'k' }, PUBLIC).bootstrap).toEqual([])
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
