// One load client for Quire, Hocuspocus and y-sweet: quire-bench's scenarios (fanout, many-docs,
// idle, hot-doc) driven the same way against each, so the servers' CPU per change and per
// delivery, fan-out latency and memory per session can be compared. Run by hand; see README.md.
//
// A change is one Y.Map set (Hocuspocus, y-sweet) or one annotation update (Quire) carrying the
// same ~300-byte annotation JSON; its send time travels inside it (`@@<t>:<writer>:<n>#` in the
// Yjs value, `customData.t` in Quire's), so a receiver computes the fan-out latency on this
// process's clock. A delivery is one change arriving at one other client of its document.

import { execSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'
import * as Y from 'yjs'

const { values: opt } = parseArgs({
  options: {
    target: { type: 'string' }, // quire | hocuspocus | y-sweet
    url: { type: 'string' }, // http://127.0.0.1:PORT
    pid: { type: 'string' }, // the server's process id (CPU and memory from /proc)
    'api-key': { type: 'string', default: process.env.QUIRE_API_KEY },
    scenario: { type: 'string' }, // fanout | many-docs | idle | hot-doc
    docs: { type: 'string' },
    clients: { type: 'string' },
    rate: { type: 'string' }, // changes/s per client (many-docs)
    'total-rate': { type: 'string' }, // changes/s in total (fanout, hot-doc)
    sessions: { type: 'string' }, // idle
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
})

const SCENARIOS = {
  fanout: { docs: 1, clients: 100, totalRate: 1000 },
  'many-docs': { docs: 200, clients: 5, rate: 10 },
  idle: { docs: 100, sessions: 2000 },
  'hot-doc': { docs: 1, clients: 1000, totalRate: 100 },
}
const scenario = opt.scenario
if (!SCENARIOS[scenario] || !['quire', 'hocuspocus', 'y-sweet'].includes(opt.target) || !opt.url) {
  console.error('usage: node load.mjs --target quire|hocuspocus|y-sweet --url http://127.0.0.1:PORT ' +
    '[--pid PID] --scenario fanout|many-docs|idle|hot-doc [--docs N] [--clients N] [--rate R] ' +
    '[--total-rate R] [--sessions N] [--duration S] [--warmup S] [--json FILE]')
  process.exit(2)
}
const num = (v, d) => (v === undefined ? d : Number(v))
const def = SCENARIOS[scenario]
const docs = num(opt.docs, def.docs)
const sessions = num(opt.sessions, def.sessions)
const clientsPerDoc = scenario === 'idle' ? Math.ceil(sessions / docs) : num(opt.clients, def.clients)
const total = scenario === 'idle' ? sessions : docs * clientsPerDoc
const ratePerClient = opt.rate !== undefined || def.rate
  ? num(opt.rate, def.rate) : num(opt['total-rate'], def.totalRate) / total
const duration = num(opt.duration, 10) * 1000
const warmup = num(opt.warmup, 2) * 1000
if (!(total > 0 && total <= 60000 && duration > 0 && duration + warmup <= 600000)) {
  throw new Error('at most 60,000 sessions and 600 s')
}
const base = opt.url.replace(/\/$/, '')
if (!/^https?:\/\/(127\.|localhost|\[::1\])/.test(base)) throw new Error('loopback servers only')
const pid = opt.pid ? Number(opt.pid) : null
const run = Date.now().toString(36)
const docName = (d) => `bench-${scenario}-${run}-${d}`

// ---- the server's process ------------------------------------------------------------------

const TICKS = Number(execSync('getconf CLK_TCK').toString().trim())
function cpuSeconds () {
  if (!pid) return null
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / TICKS
}
function rssBytes () {
  if (!pid) return null
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
  return Number(line.split(/\s+/)[1]) * 1024
}

// ---- the clock and the change's content -----------------------------------------------------

const t0 = performance.now()
const micros = () => Math.round((performance.now() - t0) * 1000)
const annotation = (page, t, w, n) =>
  `{"v":2,"type":"pspdfkit/ink","pageIndex":${page},"bbox":[10,20,100,50],"lines":{"points":[[[10,20],[60,40],[110,70]]],"intensities":[[1,1,1]]},"strokeColor":"#2293FB","lineWidth":4,"customData":{"t":${t},"m":"@@${t}:${w}:${n}#"}}`

/** Every `@@<t>:<writer>:<n>#` marker in a binary Yjs message. */
function* markers (buf) {
  let at = buf.indexOf('@@')
  while (at !== -1) {
    const end = buf.indexOf(35 /* # */, at)
    if (end === -1 || end - at > 40) break
    const [t, w] = buf.toString('latin1', at + 2, end).split(':').map(Number)
    if (Number.isFinite(t) && Number.isFinite(w)) yield [t, w]
    at = buf.indexOf('@@', end)
  }
}

// ---- the three protocols --------------------------------------------------------------------

const SYNC = 0
const AWARENESS = 1
const AUTH = 2
const SYNC_STATUS = 8

/** Quire: JSON messages (hello → welcome, changes → ack, change to the others). */
const quire = {
  async prepare () {
    const key = opt['api-key']
    if (!key) throw new Error('--api-key (or QUIRE_API_KEY) is needed for Quire')
    const auth = { authorization: `Bearer ${key}` }
    for (let d = 0; d < docs; d++) {
      const res = await fetch(`${base}/api/documents?id=${docName(d)}`, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/pdf' }, body: samplePdf(docName(d)),
      })
      if (![201, 409].includes(res.status)) throw new Error(`upload: ${res.status} ${await res.text()}`)
    }
    const tokens = []
    for (let i = 0; i < total; i++) {
      const res = await fetch(`${base}/api/sessions`, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ document_id: docName(docOf(i)), user_id: `user-${i}`, user_name: `user-${i}`, permissions: ['all'], expires_in: 86400 }),
      })
      const v = await res.json()
      if (!v.token) throw new Error(`mint: ${JSON.stringify(v)}`)
      tokens.push(v.token)
    }
    return tokens
  },
  open (c, tokens) {
    c.ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/client/ws`, { perMessageDeflate: false })
    c.ws.on('open', () => c.ws.send(JSON.stringify({ type: 'hello', token: tokens[c.i] })))
    c.ws.on('message', (data) => {
      // Others' changes (the bulk) are scanned for their marker, as the Yjs servers' updates
      // are, rather than parsed: the client then spends the same on a delivery whatever the
      // server, and its speed does not bound the latency it measures for one server only.
      if (data.length > 16 && data.toString('latin1', 0, 16) === '{"type":"change"') {
        for (const [t, w] of markers(data)) c.delivered(t, w)
        return
      }
      const v = JSON.parse(data)
      if (v.type === 'welcome') c.welcomed()
      else if (v.type === 'ack') c.acked(Number(v.client_id))
      else if (v.type === 'change') {
        const t = v.record?.content?.customData?.t
        if (t !== undefined) c.delivered(t, Number(/^c(\d+)-/.exec(v.id)?.[1]))
      } else if (v.type === 'presence') c.presence++
      else if (v.type === 'reject' || v.type === 'error') { if (!c.errors++ && process.env.PEERS_DEBUG) console.error(String(data).slice(0, 300)) }
    })
  },
  change (c, n, t) {
    const op = n < 10 ? 'create' : 'update'
    c.ws.send(`{"type":"changes","changes":[{"client_id":"${n}","op":"${op}","kind":"annotation","id":"c${c.i}-${n % 10}","content":${annotation(n % 4, t, c.i, n)}}]}`)
    return n
  },
  presence (c, state) { c.ws.send(JSON.stringify({ type: 'presence', state })) },
}

/** The Yjs servers: sync step 1 → step 2 is the welcome; updates carry the changes. */
function yjsProtocol (prefixed) {
  const frame = (c, write) => {
    const e = encoding.createEncoder()
    if (prefixed) encoding.writeVarString(e, c.doc)
    write(e)
    return encoding.toUint8Array(e)
  }
  return {
    open (c, url) {
      c.ydoc = new Y.Doc()
      c.map = c.ydoc.getMap('annotations')
      c.ydoc.on('update', (u) => c.ws.send(frame(c, (e) => {
        encoding.writeVarUint(e, SYNC); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, u)
      })))
      c.ws = new WebSocket(url, { perMessageDeflate: false })
      c.ws.on('open', () => {
        if (prefixed) { // Hocuspocus: authenticate for the document first (no token checked)
          c.ws.send(frame(c, (e) => { encoding.writeVarUint(e, AUTH); encoding.writeVarUint(e, 0); encoding.writeVarString(e, '') }))
        }
        c.ws.send(frame(c, (e) => {
          encoding.writeVarUint(e, SYNC); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, Y.encodeStateVector(c.ydoc))
        }))
      })
      c.ws.on('message', (data) => {
        const d = decoding.createDecoder(data)
        if (prefixed) decoding.readVarString(d)
        const type = decoding.readVarUint(d)
        if (type === SYNC) {
          const sub = decoding.readVarUint(d)
          if (sub === 1) c.welcomed()
          else if (sub === 2) for (const [t, w] of markers(data)) c.delivered(t, w)
        } else if (type === SYNC_STATUS) {
          c.acked(null)
        } else if (type === AWARENESS) c.presence++
      })
    },
    change (c, n, t) {
      c.map.set(`c${c.i}`, annotation(n % 4, t, c.i, n))
      return null
    },
    presence (c, state) {
      c.ws.send(frame(c, (e) => {
        const u = encoding.createEncoder()
        encoding.writeVarUint(u, 1); encoding.writeVarUint(u, c.ydoc.clientID); encoding.writeVarUint(u, 1)
        encoding.writeVarString(u, JSON.stringify(state))
        encoding.writeVarUint(e, AWARENESS); encoding.writeVarUint8Array(e, encoding.toUint8Array(u))
      }))
    },
  }
}

const hocuspocus = {
  ...yjsProtocol(true),
  async prepare () { return [] },
}
const hocusOpen = hocuspocus.open
hocuspocus.open = (c) => hocusOpen(c, base.replace(/^http/, 'ws'))

/** y-sweet: documents are created and their socket URLs given by its document API. */
const ysweet = {
  ...yjsProtocol(false),
  async prepare () {
    const urls = []
    for (let d = 0; d < docs; d++) {
      const res = await fetch(`${base}/doc/new`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ docId: docName(d) }) })
      if (!res.ok) throw new Error(`y-sweet doc/new: ${res.status} ${await res.text()}`)
      const auth = await fetch(`${base}/doc/${docName(d)}/auth`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      if (!auth.ok) throw new Error(`y-sweet auth: ${auth.status} ${await auth.text()}`)
      const v = await auth.json()
      urls.push(v.token ? `${v.url}?token=${encodeURIComponent(v.token)}` : v.url)
    }
    return urls
  },
}
const sweetOpen = ysweet.open
// The URL is y-websocket's: the provider appends the document id.
ysweet.open = (c, urls) => sweetOpen(c, `${urls[c.d]}/${c.doc}`)

const protocol = { quire, hocuspocus, 'y-sweet': ysweet }[opt.target]

// ---- the clients ----------------------------------------------------------------------------

function docOf (i) { return scenario === 'idle' ? i % docs : Math.floor(i / clientsPerDoc) }

const stats = {
  ack: [], fanout: [], acksInWindow: 0, deliveriesInWindow: 0, deliveriesOfWindow: 0,
  sentInWindow: new Array(docs).fill(0), errors: 0, disconnects: 0, presence: 0,
}
let epoch = null // ms (performance.now()) when the writing starts
const inWindow = (ms) => epoch !== null && ms >= epoch + warmup && ms < epoch + warmup + duration

class Client {
  constructor (i) {
    this.i = i
    this.d = docOf(i)
    this.doc = docName(this.d)
    this.pending = new Map() // Quire: client_id → sent at
    this.fifo = [] // Hocuspocus: acks come in order
    this.presence = 0
    this.errors = 0
    this.ready = new Promise((resolve, reject) => { this.welcomed = () => resolve(performance.now()); this.fail = reject })
  }

  acked (id) {
    const at = id === null ? this.fifo.shift() : this.pending.get(id)
    if (id !== null) this.pending.delete(id)
    if (at === undefined) return
    const now = performance.now()
    if (inWindow(now)) { stats.ack.push((now - at) * 1000); stats.acksInWindow++ }
    if (inWindow(at) && opt.target === 'quire') stats.sentInWindow[this.d]++
  }

  delivered (t, writer) {
    if (writer === this.i) return // an echo of its own change
    const now = performance.now()
    const sentMs = t / 1000 + t0
    if (inWindow(sentMs)) stats.deliveriesOfWindow++
    if (inWindow(now)) { stats.fanout.push(micros() - t); stats.deliveriesInWindow++ }
  }
}

function connect (i, arg) {
  const c = new Client(i)
  const started = performance.now()
  protocol.open(c, arg)
  c.ws.on('error', (e) => { c.fail(e); if (epoch !== null) stats.disconnects++ })
  c.ws.on('close', () => { c.fail(new Error('closed')); if (epoch !== null && !c.leaving) stats.disconnects++ })
  const timeout = setTimeout(() => c.fail(new Error('no welcome within 60 s')), 60000)
  return c.ready.then((at) => { clearTimeout(timeout); c.joinMs = at - started; c.joinedAt = at; return c })
}

/** Opens clients `from`..total, at most `parallel` at a time. */
async function openAll (args, parallel, from = 0) {
  const clients = []
  let next = from
  const worker = async () => {
    while (next < total) {
      const i = next++
      clients.push(await connect(i, args))
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, total - from) }, worker))
  return clients
}

function write (clients) {
  const period = 1000 / ratePerClient
  epoch = performance.now()
  for (const c of clients) {
    let k = 0
    const first = epoch + period * (c.i / total)
    const tick = () => {
      const now = performance.now()
      if (now >= epoch + warmup + duration) return
      const t = micros()
      const id = protocol.change(c, k++, t)
      if (id === null) {
        c.fifo.push(now)
        if (opt.target !== 'quire' && inWindow(now)) stats.sentInWindow[c.d]++
      } else c.pending.set(id, now)
      setTimeout(tick, Math.max(0, first + k * period - performance.now()))
    }
    setTimeout(tick, Math.max(0, first - performance.now()))
  }
  return new Promise((resolve) => setTimeout(resolve, warmup + duration + 2000))
}

const pct = (a, q) => (a.length ? a[Math.min(a.length - 1, Math.floor(q * a.length))] / 1000 : null)
const latency = (a) => {
  a.sort((x, y) => x - y)
  return { count: a.length, p50_ms: pct(a, 0.5), p99_ms: pct(a, 0.99), p999_ms: pct(a, 0.999), max_ms: a.length ? a[a.length - 1] / 1000 : null }
}

// ---- the run --------------------------------------------------------------------------------

const report = { target: opt.target, scenario, parameters: { docs, clients_per_doc: clientsPerDoc, sessions: total, changes_per_second_per_client: ratePerClient, offered_changes_per_second: ratePerClient * total, duration_s: duration / 1000, warmup_s: warmup / 1000 }, notes: [] }
if (!pid) report.notes.push('server CPU and memory not measured: no --pid')
const args = await protocol.prepare()
console.error(`${opt.target} ${scenario}: opening ${total} sessions`)

if (scenario === 'idle') {
  const first = await connect(0, args) // the server's pools exist before the baseline
  const before = rssBytes()
  const clients = await openAll(args, 256, 1)
  await new Promise((resolve) => setTimeout(resolve, duration))
  const after = rssBytes()
  report.sessions = clients.length
  if (before !== null) {
    report.server_rss_mib = after / 1048576
    report.rss_per_session_kib = (after - before) / 1024 / clients.length
  }
  for (const c of [first, ...clients]) { c.leaving = true; c.ws.terminate() }
} else {
  let clients
  if (scenario === 'hot-doc') {
    const cpu0 = cpuSeconds()
    const storm = performance.now()
    clients = await Promise.all(Array.from({ length: total }, (_, i) => connect(i, args).then((c) => {
      protocol.presence(c, { page: i % 4, cursor: [i % 600, Math.floor(i / 600)] })
      return c
    })))
    report.joined = clients.length
    report.all_joined_seconds = (Math.max(...clients.map((c) => c.joinedAt)) - storm) / 1000
    report.join_latency = latency(clients.map((c) => c.joinMs * 1000))
    const cpu1 = cpuSeconds()
    if (cpu0 !== null) report.join_cpu_seconds = cpu1 - cpu0
  } else {
    clients = await openAll(args, 64)
  }
  console.error(`${clients.length} joined; writing ${warmup / 1000} s warm-up + ${duration / 1000} s`)
  let cpuStart = null
  setTimeout(() => { cpuStart = cpuSeconds() }, warmup)
  let cpuEnd = null
  setTimeout(() => { cpuEnd = cpuSeconds() }, warmup + duration)
  await write(clients)
  for (const c of clients) { c.leaving = true; c.ws.terminate() }
  const secs = duration / 1000
  const writers = opt.target === 'quire' ? stats.acksInWindow : stats.sentInWindow.reduce((a, b) => a + b, 0)
  report.changes_per_second = writers / secs
  report.changes_counted = opt.target === 'quire' ? 'acknowledged (committed)' : 'sent'
  report.deliveries_per_second = stats.deliveriesInWindow / secs
  report.ack_latency = latency(stats.ack)
  report.fanout_latency = latency(stats.fanout)
  report.deliveries_expected = stats.sentInWindow.reduce((a, b) => a + b, 0) * (clientsPerDoc - 1)
  report.deliveries_received = stats.deliveriesOfWindow
  report.sessions = clients.length
  if (cpuStart !== null && cpuEnd !== null) {
    report.server_cpu_seconds = cpuEnd - cpuStart
    if (writers) report.server_cpu_per_change_us = (cpuEnd - cpuStart) * 1e6 / writers
    if (stats.deliveriesInWindow) report.server_cpu_per_delivery_us = (cpuEnd - cpuStart) * 1e6 / stats.deliveriesInWindow
    report.server_rss_mib = rssBytes() / 1048576
  }
  report.presence_messages = clients.reduce((a, c) => a + c.presence, 0)
  report.errors = clients.reduce((a, c) => a + c.errors, 0)
}
report.disconnects = stats.disconnects

for (const [k, v] of Object.entries(report)) console.log(`  ${k.padEnd(28)} ${typeof v === 'object' ? JSON.stringify(v) : v}`)
if (opt.json) writeFileSync(opt.json, JSON.stringify(report, null, 2))
process.exit(0)

/** A small valid PDF for Quire's upload: 4 pages (the changes use pages 0 to 3) and a marker
 *  that makes each document distinct. */
function samplePdf (marker) {
  const page = '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>'
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [4 0 R 5 0 R 6 0 R 7 0 R] /Count 4 >>',
    `<< /Marker (${marker}) >>`, page, page, page, page]
  let out = '%PDF-1.5\n'
  const offsets = []
  objects.forEach((body, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${body}\nendobj\n` })
  const xref = out.length
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}
