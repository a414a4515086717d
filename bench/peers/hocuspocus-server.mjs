// Hocuspocus with its SQLite extension, as the peer comparison runs it (bench/peers/README.md).
// Defaults otherwise: documents stored 2 s after the last change (at most every 10 s), broadcasts
// coalesced within one event-loop turn.
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'

const port = Number(process.env.PORT ?? 1234)
const database = process.env.HOCUSPOCUS_DB ?? 'hocuspocus.sqlite'

const server = new Server({
  port,
  address: '127.0.0.1',
  quiet: true,
  extensions: [new SQLite({ database })],
})
await server.listen()
console.log(`hocuspocus listening on 127.0.0.1:${port}, database ${database}`)
