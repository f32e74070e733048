// `k8ts images ...`: build the offline stand-ins for the demo images and push them to a
// registry that nodes use as their docker.io / registry.k8s.io mirror.
import type { Command } from 'commander';
import { buildImage } from '../images/build.js';
import { allRecipes, recipeNames } from '../images/recipes.js';
import { loadIntoContainerd, loadIntoDocker, pushImage } from '../images/registry.js';

function pick(names: string[]): string[] {
  const known = recipeNames();
  if (names.length === 0) return known;
  const bad = names.filter((n) => !known.includes(n));
  if (bad.length > 0) throw new Error(`unknown image(s) ${bad.join(', ')}; known: ${known.join(', ')}`);
  return names;
}

export function register(program: Command): void {
  const images = program.command('images').description('build offline OCI images and push or load them');

  images
    .command('build')
    .description('build images (all by default) into images/out/<name>/ and images/out/<name>.tar')
    .argument('[names...]', 'recipe names')
    .option('--out-dir <dir>', 'output directory (default images/out)')
    .option('--force', 'rebuild even if inputs are unchanged', false)
    .action(async (names: string[], o: { outDir?: string; force: boolean }) => {
      for (const name of pick(names)) {
        const t = Date.now();
        const r = await buildImage(name, { outDir: o.outDir, force: o.force });
        const took = ((Date.now() - t) / 1000).toFixed(1);
        console.log(`${name}\t${r.cached ? 'cached' : 'built'} in ${took}s\t${r.manifestDigest}\t${r.refs.join(' ')}`);
      }
    });

  images
    .command('list')
    .description('list recipes and the upstream references they stand in for')
    .action(() => {
      for (const r of allRecipes()) console.log(`${r.name}\t${r.refs.join(' ')}\t${r.description}`);
    });

  images
    .command('push')
    .description('build if needed and push to a registry under the upstream repository paths')
    .requiredOption('--registry <host:port>', 'registry address (plain http)')
    .argument('[names...]', 'recipe names')
    .option('--out-dir <dir>', 'output directory (default images/out)')
    .option('--force', 'push even tags the registry already has with the same digest', false)
    .action(async (names: string[], o: { registry: string; outDir?: string; force: boolean }) => {
      for (const name of pick(names)) {
        for (const dest of await pushImage(name, o.registry, { outDir: o.outDir, force: o.force })) console.log(`pushed ${dest}`);
      }
    });

  images
    .command('load')
    .description('import images straight into containerd (CRI namespace k8s.io) or a Docker daemon')
    .argument('[names...]', 'recipe names')
    .option('--containerd <socket>', 'containerd socket path')
    .option('--namespace <ns>', 'containerd namespace', 'k8s.io')
    .option('--docker <host>', 'Docker host, unix:///path/docker.sock')
    .action(async (names: string[], o: { containerd?: string; namespace: string; docker?: string }) => {
      if (!o.containerd && !o.docker) throw new Error('give --containerd <socket> or --docker <host>');
      for (const name of pick(names)) {
        if (o.containerd) await loadIntoContainerd(name, { address: o.containerd, namespace: o.namespace });
        if (o.docker) await loadIntoDocker(name, o.docker);
        console.log(`loaded ${name}`);
      }
    });
}
