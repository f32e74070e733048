// npm run bench -- NAME [args]: runs bench/NAME.ts; without NAME, lists them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

const dir = import.meta.dirname;
const names = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.replace(/\.ts$/, ''));
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.log(`usage: npm run bench -- <name> [args]\nbenchmarks: ${names.join(', ')}`);
  process.exit(name ? 1 : 0);
}
const r = await execa(process.execPath, ['--import', 'tsx', join(dir, `${name}.ts`), ...rest], { stdio: 'inherit', reject: false });
process.exit(r.exitCode ?? 1);
