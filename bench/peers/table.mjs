// Prints the results of run.sh (one JSON file per server and scenario) as a Markdown table.
import { readdirSync, readFileSync } from 'node:fs'

const dir = process.argv[2] ?? 'results'
const servers = ['quire', 'hocuspocus', 'y-sweet']
const results = {}
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const r = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'))
  results[`${r.target}/${r.scenario}`] = r
}
const fmt = (v, digits = 1) => (v === undefined || v === null ? '—' : Number(v).toLocaleString('en-US', { maximumFractionDigits: digits }))
const rows = [
  ['fanout', 'server CPU per delivery (µs)', (r) => fmt(r.server_cpu_per_delivery_us, 2)],
  ['fanout', 'server CPU per change (µs)', (r) => fmt(r.server_cpu_per_change_us)],
  ['fanout', 'fan-out p50 / p99 (ms)', (r) => `${fmt(r.fanout_latency?.p50_ms)} / ${fmt(r.fanout_latency?.p99_ms)}`],
  ['fanout', 'deliveries complete', (r) => `${fmt(r.deliveries_received, 0)} of ${fmt(r.deliveries_expected, 0)}`],
  ['many-docs', 'server CPU per change (µs)', (r) => fmt(r.server_cpu_per_change_us)],
  ['many-docs', 'fan-out p99 (ms)', (r) => fmt(r.fanout_latency?.p99_ms)],
  ['idle', 'RSS per session (KiB)', (r) => fmt(r.rss_per_session_kib)],
  ['hot-doc', 'all joined within (s)', (r) => `${fmt(r.joined, 0)} in ${fmt(r.all_joined_seconds, 2)}`],
  ['hot-doc', 'server CPU for the join storm (s)', (r) => fmt(r.join_cpu_seconds, 2)],
  ['hot-doc', 'fan-out p50 / p99 (ms)', (r) => `${fmt(r.fanout_latency?.p50_ms)} / ${fmt(r.fanout_latency?.p99_ms)}`],
  ['hot-doc', 'server CPU per delivery (µs)', (r) => fmt(r.server_cpu_per_delivery_us, 2)],
  ['hot-doc', 'deliveries complete', (r) => `${fmt(r.deliveries_received, 0)} of ${fmt(r.deliveries_expected, 0)}`],
]
const present = servers.filter((s) => Object.keys(results).some((k) => k.startsWith(`${s}/`)))
console.log(`| scenario | figure | ${present.join(' | ')} |`)
console.log(`| --- | --- | ${present.map(() => '---').join(' | ')} |`)
for (const [scenario, label, get] of rows) {
  const cells = present.map((s) => (results[`${s}/${scenario}`] ? get(results[`${s}/${scenario}`]) : '—'))
  if (cells.some((c) => c !== '—')) console.log(`| ${scenario} | ${label} | ${cells.join(' | ')} |`)
}
