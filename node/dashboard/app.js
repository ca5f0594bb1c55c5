// The dashboard page: reads the node's control API (same origin, the token
// travels as a cookie), follows its live feed over Server-Sent Events and
// redraws the cards, chart, peers and leaderboard. Every value from the node
// or the swarm goes into the page as text, never as HTML.
'use strict'
;(function () {
  const $ = id => document.getElementById(id)
  const state = { status: null, records: new Map(), swarm: new Map(), peers: [], board: [] }
  const short = id => (id && id.length > 12 ? '…' + id.slice(-6) : id || '-')
  const fig = (x, d = 6) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : '-')
  const figureOf = r => [r.decision_bpb, r.verified_bpb, r.val_bpb].find(x => typeof x === 'number' && isFinite(x)) ?? null
  const clock = t => new Date(t).toLocaleTimeString([], { hour12: false })
  function age (t) {
    const s = Math.max(0, Math.round((Date.now() - t) / 1000))
    return s < 60 ? s + 's' : s < 3600 ? Math.floor(s / 60) + 'm' : s < 86400 ? Math.floor(s / 3600) + 'h' : Math.floor(s / 86400) + 'd'
  }

  async function api (path) {
    const res = await fetch(path, { headers: { Accept: 'application/json' } })
    if (!res.ok) throw new Error(`${path}: ${res.status}`)
    return res.json()
  }

  function cell (tr, text, cls) {
    const td = document.createElement('td')
    td.textContent = text
    if (cls) td.className = cls
    tr.appendChild(td)
  }

  // --- cards -----------------------------------------------------------------
  function renderStatus () {
    const s = state.status
    if (!s) return
    $('project').textContent = `${s.project.name} · ${s.project.id.slice(0, 12)} · track ${s.track}${s.offline ? ' · offline' : ''}`
    $('baseline').textContent = fig(s.baseline.value)
    $('baseline-sub').textContent = `at ${s.baseline.commit.slice(0, 7)} on ${s.branch}`
    $('best').textContent = s.best ? fig(s.best.val_bpb) : '-'
    $('best-sub').textContent = s.best ? `by ${short(s.best.author)}, ${evidenceText(s.best)}` : 'none known yet'
    $('experiments').textContent = String(s.experiments)
    $('kept').textContent = `${s.kept} kept · proposer ${s.proposer}`
    $('peer-count').textContent = s.offline ? 'offline' : String(s.peers)
    $('node-id').textContent = `me ${short(s.peerId)}`
    renderNow(s.experiment)
  }

  function renderNow (e) {
    // Past the budget the run is evaluating: say so rather than count on.
    const evaluating = e && e.budget_s && (e.elapsed_s || 0) >= e.budget_s
    $('now').textContent = e ? `#${e.seq} ${e.kind}: ${e.description}${evaluating ? ' · evaluating' : ''}` : 'between experiments'
    const frac = e && e.budget_s ? Math.min(1, (e.elapsed_s || 0) / e.budget_s) : 0
    $('now-bar').style.width = `${Math.round(frac * 100)}%`
  }

  // --- chart -----------------------------------------------------------------
  function renderCharts () {
    const s = state.status
    const box = $('charts')
    const mineAll = [...state.records.values()]
    const tracks = new Set(s ? [s.track] : [])
    for (const r of mineAll) tracks.add(r.track)
    for (const r of state.swarm.values()) if (r.status === 'keep') tracks.add(r.track)
    if (mineAll.length === 0 && state.swarm.size === 0) return
    box.textContent = ''
    for (const track of tracks) {
      const mine = mineAll.filter(r => r.track === track).map(r => ({ t: r.finished_at, v: figureOf(r), status: r.status, seq: r.seq, label: `#${r.seq} ${r.description}` }))
      const swarm = [...state.swarm.values()].filter(r => r.track === track && r.status === 'keep' && r.val_bpb != null)
        .map(r => ({ t: r.time, v: r.val_bpb, label: `${r.description} (${short(r.author)})` }))
      // An offline node has no swarm store: its own keeps are the swarm it knows.
      for (const r of mineAll) if (r.track === track && r.status === 'keep' && figureOf(r) != null) swarm.push({ t: r.finished_at, v: figureOf(r), label: `${r.description} (me)` })
      const div = document.createElement('div')
      div.className = 'chart'
      box.appendChild(div)
      window.SwarmChart.draw(div, { track, mine, swarm })
    }
  }

  // --- peers and leaderboard ---------------------------------------------------
  function renderPeers () {
    const body = $('peers').tBodies[0]
    body.textContent = ''
    for (const p of state.peers) {
      const tr = document.createElement('tr')
      tr.dataset.peer = p.peer
      cell(tr, short(p.peer)); cell(tr, p.direction === 'inbound' ? 'in' : 'out'); cell(tr, p.status ? p.status.track : '-')
      cell(tr, p.status ? fig(p.status.best_bpb, 4) : '-', 'num'); cell(tr, p.status ? String(p.status.experiments) : '-', 'num'); cell(tr, String(p.trust), 'num')
      body.appendChild(tr)
    }
    $('no-peers').hidden = state.peers.length > 0
  }

  // What backs a row's figure, as the leaderboard command says it.
  function evidenceText (r) {
    const base = r.evidence === 'verified' ? 'verified here' : r.evidence === 'reproduced' ? `reproduced by ${r.reproducers}` : r.evidence
    return r.failed > 0 && r.evidence !== 'distrusted' ? `${base}, disputed` : base
  }

  function renderBoard () {
    const body = $('board').tBodies[0]
    body.textContent = ''
    const me = state.status && state.status.peerId
    for (const r of state.board) {
      const tr = document.createElement('tr')
      if (r.author === me) tr.className = 'mine'
      const hw = r.hardware ? (r.hardware.gpu || `${String(r.hardware.cpu).slice(0, 24)} x${r.hardware.cores}`) : '-'
      tr.dataset.evidence = r.evidence
      cell(tr, String(r.rank), 'num'); cell(tr, r.track); cell(tr, fig(r.val_bpb), 'num'); cell(tr, evidenceText(r), `evidence ${r.evidence}`)
      cell(tr, r.delta == null ? '-' : (r.delta > 0 ? '+' : '') + r.delta.toFixed(4), 'num'); cell(tr, String(r.attestations), 'num')
      cell(tr, r.author === me ? 'me' : short(r.author)); cell(tr, hw); cell(tr, age(r.time)); cell(tr, r.description)
      body.appendChild(tr)
    }
    $('no-board').hidden = state.board.length > 0
  }

  // --- feed ------------------------------------------------------------------
  function addFeed (e, badge, text, attrs) {
    const li = document.createElement('li')
    li.dataset.type = e.type
    for (const [k, v] of Object.entries(attrs || {})) li.dataset[k] = String(v)
    const t = document.createElement('span'); t.className = 't'; t.textContent = clock(e.time)
    const b = document.createElement('span'); b.className = `badge ${badge}`; b.textContent = badge
    const m = document.createElement('span'); m.className = 'm'; m.textContent = text; m.title = text
    li.append(t, b, m)
    const feed = $('feed')
    feed.insertBefore(li, feed.firstChild)
    while (feed.children.length > 200) feed.removeChild(feed.lastChild)
  }

  function swarmText (ev, result) {
    switch (ev.type) {
      case 'received': return ev.kind === 'result' && result
        ? [`received`, `← ${result.status} ${fig(result.val_bpb)} from ${short(ev.author)}: ${result.description}`]
        : ['received', `← ${ev.kind} ${ev.id.slice(0, 8)} from ${short(ev.author)}`]
      case 'published': return ['swarm', `→ published ${ev.kind} ${ev.id.slice(0, 8)}${ev.recipients != null ? ` to ${ev.recipients} peers` : ''}`]
      case 'best': return ['best', `★ best on ${ev.track}: ${fig(ev.val_bpb)} (${ev.attestations} attestations, ${ev.source})`]
      case 'adoption-queued': return ['swarm', `↻ will reproduce ${ev.result.slice(0, 8)} by ${short(ev.author)} (claims ${fig(ev.claimed, 4)})`]
      case 'attested': return [ev.ok ? 'keep' : 'crash', `${ev.ok ? '✓ reproduced' : '✗ did not reproduce'} ${ev.result.slice(0, 8)} by ${short(ev.author)}: ${ev.reason}`]
      case 'synced': return ['swarm', `⇄ synced ${ev.added} messages from ${short(ev.peer)}`]
      case 'rejected': return ['rejected', `✗ rejected gossip from ${short(ev.from)}: ${ev.reason}`]
      case 'trust': return ['swarm', `trust in ${short(ev.peer)} is now ${ev.score}`]
      case 'peer': return ['swarm', `linked to ${short(ev.peer)} (${ev.direction})`]
      default: return ['log', ev.message || ev.type]
    }
  }

  // --- refreshing ------------------------------------------------------------
  const timers = {}
  function soon (name, fn, ms) {
    if (timers[name]) return
    timers[name] = setTimeout(() => { timers[name] = null; fn().catch(showError) }, ms)
  }
  function showError (err) { $('conn').textContent = String(err.message || err); $('conn').className = 'pill off' }

  async function loadStatus () { state.status = await api('/api/status'); renderStatus() }
  async function loadPeers () { state.peers = (await api('/api/peers')).peers; renderPeers() }
  async function loadBoard () { state.board = (await api(`/api/leaderboard?limit=10${$('board-all').checked ? '&all=1' : ''}`)).rows; renderBoard() }
  async function loadChart () {
    for (const r of (await api('/api/chart')).results) state.swarm.set(r.id, r)
    renderCharts()
  }
  async function loadHistory () {
    for (const r of (await api('/api/results')).records) state.records.set(r.id, r)
    renderCharts()
  }

  function follow () {
    const es = new EventSource('/api/events')
    es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'pill on' }
    es.onerror = () => { $('conn').textContent = 'reconnecting…'; $('conn').className = 'pill off' }
    es.addEventListener('experiment-start', m => {
      const e = JSON.parse(m.data)
      addFeed(e, 'start', `#${e.seq} ${e.kind}: ${e.description}`, { seq: e.seq })
      if (state.status) { state.status.experiment = { seq: e.seq, kind: e.kind, description: e.description, elapsed_s: 0, budget_s: null }; renderNow(state.status.experiment) }
    })
    es.addEventListener('progress', m => {
      const e = JSON.parse(m.data)
      if (state.status && state.status.experiment && state.status.experiment.seq === e.seq) {
        Object.assign(state.status.experiment, { elapsed_s: e.elapsed_s, budget_s: e.budget_s })
        renderNow(state.status.experiment)
      }
    })
    es.addEventListener('experiment-end', m => {
      const e = JSON.parse(m.data)
      const r = e.record
      state.records.set(r.id, r)
      if (state.status) { state.status.experiment = null; renderNow(null) }
      addFeed(e, r.status, `#${r.seq} ${fig(figureOf(r))} ${r.description}${r.reason ? ` (${r.reason})` : ''}`, { seq: r.seq, status: r.status })
      soon('charts', async () => renderCharts(), 200)
      soon('status', loadStatus, 300)
      soon('board', loadBoard, 1000)
      soon('chart', loadChart, 1500)
    })
    es.addEventListener('swarm', m => {
      const e = JSON.parse(m.data)
      const [badge, text] = swarmText(e.event, e.result)
      if (e.result) { state.swarm.set(e.result.id, e.result); soon('charts', async () => renderCharts(), 200) }
      if (e.event.type === 'peer') soon('peers', loadPeers, 500)
      if (e.event.type === 'best' || e.event.type === 'attested') { soon('board', loadBoard, 500); soon('status', loadStatus, 500) }
      addFeed(e, badge, text, { swarm: e.event.type })
    })
    es.addEventListener('log', m => { const e = JSON.parse(m.data); addFeed(e, 'log', e.message) })
  }

  $('board-all').addEventListener('change', () => { loadBoard().catch(showError) })
  Promise.all([loadStatus(), loadPeers(), loadBoard(), loadHistory(), loadChart()]).catch(showError)
  follow()
  setInterval(() => { loadStatus().catch(showError); loadPeers().catch(showError) }, 5000)
  setInterval(() => { loadBoard().catch(showError) }, 15000)
})()
