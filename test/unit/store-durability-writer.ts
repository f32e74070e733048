// Child process of store-durability.test.ts: writes to a SqliteStore as fast as it can and
// prints one line per acknowledged write, until it is killed with SIGKILL.
//   ACK <key> <revision>        a create
//   ACKU <key> <revision>       an update of an earlier key to the value "updated"
// stdout is a pipe, and pipe writes are synchronous on Linux, so a printed line means the
// write had been acknowledged before the line left the process.
import { SqliteStore } from '../../control-plane/storage/sqlite.js';

const dataDir = process.argv[2];
const start = Number(process.argv[3] ?? '0');
if (!dataDir) throw new Error('usage: store-durability-writer.ts <dataDir> [startIndex]');
const store = new SqliteStore({ dataDir });
const value = JSON.stringify({ kind: 'Pod', pad: 'p'.repeat(500) });

for (let i = start; ; i++) {
  const key = `/d/${i}`;
  const kv = await store.create(key, value);
  process.stdout.write(`ACK ${key} ${kv.modRevision}\n`);
  if (i % 10 === 0 && i - 5 >= start) {
    const up = await store.update(`/d/${i - 5}`, 'updated');
    process.stdout.write(`ACKU /d/${i - 5} ${up.modRevision}\n`);
  }
  // Let the event loop breathe, as a server would between requests.
  if (i % 100 === 0) await new Promise((r) => setImmediate(r));
}
