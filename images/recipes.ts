// The images the demos and tests need, each standing in for an upstream image that cannot be
// pulled here (no Docker Hub). Bytes come from this Debian host's packages (redis-server,
// php8.2-cli, php-redis, busybox) and from small files next to this one (images/<name>/).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface HostFile {
  src: string;
  dest?: string;
  mode?: number;
  /** Follow its shared libraries (an ELF executable or a dlopen()ed module). */
  elf?: boolean;
}

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  /** "6379/tcp" */
  ExposedPorts?: string[];
  WorkingDir?: string;
}

export interface Recipe {
  name: string;
  /** Upstream references this image is tagged with; the first one is the primary. */
  refs: string[];
  description: string;
  /** Install /bin/busybox (and its libraries) plus a symlink per applet. */
  busybox?: boolean;
  /** Executables copied from the host with their shared libraries (dest defaults to src). */
  binaries?: Array<{ src: string; dest?: string }>;
  /** Other host files (configs, modules); `elf` ones also bring their libraries. */
  hostFiles?: HostFile[];
  /** Host files found at build time (directory listings). Resolved into hostFiles. */
  expandHostFiles?: () => Promise<HostFile[]>;
  /** Files from images/<name>/. */
  recipeFiles?: Array<{ src: string; dest: string; mode?: number }>;
  inline?: Array<{ path: string; content: string; mode?: number }>;
  symlinks?: Array<{ path: string; target: string }>;
  dirs?: Array<{ path: string; mode?: number }>;
  /** C sources from images/<name>/ compiled on the host. */
  compile?: Array<{ src: string; dest: string; args: string[] }>;
  config: ImageConfig;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Users as in the upstream busybox image: what `id`, `ps` and `whoami` need. */
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n';
/** glibc falls back to these when the file is missing, but busybox tools and PHP read it. */
const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\n';

const baseFs: Pick<Recipe, 'inline' | 'dirs'> = {
  inline: [
    { path: '/etc/passwd', content: PASSWD },
    { path: '/etc/group', content: GROUP },
    { path: '/etc/nsswitch.conf', content: NSSWITCH },
  ],
  dirs: [
    { path: '/tmp', mode: 0o1777 },
    { path: '/root', mode: 0o700 },
    { path: '/proc' },
    { path: '/sys' },
    { path: '/dev' },
    { path: '/run' },
    { path: '/var/tmp', mode: 0o1777 },
  ],
};

function withBase(r: Recipe): Recipe {
  return {
    ...r,
    inline: [...(baseFs.inline ?? []), ...(r.inline ?? [])],
    dirs: [...(baseFs.dirs ?? []), ...(r.dirs ?? [])],
  };
}

const REDIS_CONF = [
  '# k8ts redis-master: reachable from other pods through the Service, kept in the foreground',
  '# so the container lives as long as redis does, logging to stdout for `kubectl logs`.',
  'bind 0.0.0.0',
  'protected-mode no',
  'port 6379',
  'daemonize no',
  'supervised no',
  'logfile ""',
  'dir /data',
  'appendonly no',
  '',
].join('\n');

const PHP_EXT_DIR = '/usr/lib/php/20220829';
const PHP_CONF_D = '/etc/php/8.2/cli/conf.d';

/**
 * Modules the guestbook needs (redis needs igbinary), out of what php8.2-cli enables; the
 * rest (fileinfo alone is 7 MB) would only make the layer bigger and slower to pull.
 */
const PHP_MODULES = ['ctype', 'iconv', 'igbinary', 'posix', 'redis', 'sockets', 'tokenizer'];

/** The enabled conf.d ini files (resolved) of PHP_MODULES and the .so files they name. */
async function phpModules(): Promise<HostFile[]> {
  const out: HostFile[] = [];
  const wanted = (ini: string) => PHP_MODULES.includes(ini.replace(/^\d+-/, '').replace(/\.ini$/, ''));
  for (const ini of (await fs.readdir(PHP_CONF_D)).filter((f) => f.endsWith('.ini') && wanted(f)).sort()) {
    const iniPath = path.join(PHP_CONF_D, ini);
    out.push({ src: iniPath, dest: iniPath, mode: 0o644 });
    const text = await fs.readFile(iniPath, 'utf8');
    for (const m of text.matchAll(/^\s*(?:zend_)?extension\s*=\s*"?([\w.-]+?)(?:\.so)?"?\s*$/gm)) {
      const so = `${PHP_EXT_DIR}/${m[1]}.so`;
      out.push({ src: so, dest: so, mode: 0o644, elf: true });
    }
  }
  return out;
}

const RECIPES: Recipe[] = [
  {
    name: 'pause',
    refs: ['registry.k8s.io/pause:3.9', 'k8ts/pause:3.9'],
    description: 'pod sandbox holder: static C program that reaps zombies and exits 0 on SIGTERM',
    compile: [{ src: 'pause.c', dest: '/pause', args: ['-static', '-Os', '-s', '-Wall'] }],
    config: { Entrypoint: ['/pause'], Env: [PATH_ENV] },
  },
  withBase({
    name: 'busybox',
    refs: ['docker.io/library/busybox:latest', 'docker.io/library/busybox:1.36'],
    description: "Debian's busybox with a symlink per applet",
    busybox: true,
    config: { Cmd: ['sh'], Env: [PATH_ENV] },
  }),
  withBase({
    name: 'redis-master',
    refs: ['docker.io/kubeguide/redis-master:latest'],
    description: "Debian's redis-server in the foreground on 0.0.0.0:6379, protected mode off",
    busybox: true,
    binaries: [{ src: '/usr/bin/redis-server' }, { src: '/usr/bin/redis-cli' }],
    inline: [{ path: '/etc/redis/redis.conf', content: REDIS_CONF }],
    dirs: [{ path: '/data' }],
    config: {
      Cmd: ['redis-server', '/etc/redis/redis.conf'],
      Env: [PATH_ENV],
      ExposedPorts: ['6379/tcp'],
      WorkingDir: '/data',
    },
  }),
  withBase({
    name: 'guestbook-redis-slave',
    refs: ['docker.io/kubeguide/guestbook-redis-slave:latest'],
    description: 'redis-server replicating from the redis-master Service (env vars or DNS)',
    busybox: true,
    binaries: [{ src: '/usr/bin/redis-server' }, { src: '/usr/bin/redis-cli' }],
    recipeFiles: [{ src: 'run.sh', dest: '/run.sh', mode: 0o755 }],
    dirs: [{ path: '/data' }],
    config: { Cmd: ['/run.sh'], Env: [PATH_ENV], ExposedPorts: ['6379/tcp'], WorkingDir: '/data' },
  }),
  withBase({
    name: 'guestbook-php-frontend',
    refs: ['docker.io/kubeguide/guestbook-php-frontend:latest'],
    description: 'PHP 8.2 built-in server with phpredis: the guestbook page and guestbook.php API',
    busybox: true,
    binaries: [{ src: '/usr/bin/php8.2', dest: '/usr/bin/php' }],
    hostFiles: [
      { src: '/etc/php/8.2/cli/php.ini', mode: 0o644 },
      // Debian's PHP reads the system tz database; without it every start warns about 'UTC'.
      { src: '/usr/share/zoneinfo/UTC', mode: 0o644 },
      { src: '/usr/share/zoneinfo/Etc/UTC', mode: 0o644 },
    ],
    symlinks: [{ path: '/etc/localtime', target: '/usr/share/zoneinfo/Etc/UTC' }],
    expandHostFiles: phpModules,
    recipeFiles: [
      { src: 'index.html', dest: '/var/www/html/index.html' },
      { src: 'guestbook.php', dest: '/var/www/html/guestbook.php' },
      { src: 'start.sh', dest: '/start.sh', mode: 0o755 },
    ],
    config: {
      Cmd: ['/start.sh'],
      // Several workers so one slow redis call does not stall every other request.
      Env: [PATH_ENV, 'PHP_CLI_SERVER_WORKERS=4'],
      ExposedPorts: ['80/tcp'],
      WorkingDir: '/var/www/html',
    },
  }),
];

export function recipeNames(): string[] {
  return RECIPES.map((r) => r.name);
}

export function getRecipe(name: string): Recipe {
  const r = RECIPES.find((x) => x.name === name);
  if (!r) throw new Error(`unknown image ${JSON.stringify(name)}; known: ${recipeNames().join(', ')}`);
  return r;
}

export function allRecipes(): readonly Recipe[] {
  return RECIPES;
}
