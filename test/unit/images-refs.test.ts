// Reference handling decides where images land in the mirror registry and what containerd
// and Docker call them; a mistake here means "image not found" on every node.
import { describe, expect, it } from 'vitest';
import { normalizeRef, splitRef } from '../../images/build.js';
import { getRecipe, recipeNames } from '../../images/recipes.js';
import { dockerDaemonRef, mirrorPath } from '../../images/registry.js';

describe('image references', () => {
  it('normalizes like Docker', () => {
    expect(normalizeRef('busybox')).toBe('docker.io/library/busybox:latest');
    expect(normalizeRef('busybox:1.36')).toBe('docker.io/library/busybox:1.36');
    expect(normalizeRef('kubeguide/redis-master')).toBe('docker.io/kubeguide/redis-master:latest');
    expect(normalizeRef('registry.k8s.io/pause:3.9')).toBe('registry.k8s.io/pause:3.9');
    expect(normalizeRef('localhost:5000/x/y')).toBe('localhost:5000/x/y:latest');
    expect(normalizeRef('127.0.0.1:5000/x:v1')).toBe('127.0.0.1:5000/x:v1');
    expect(() => normalizeRef('busybox@sha256:abc')).toThrow(/digest/);
  });

  it('splits into domain, repository and tag', () => {
    expect(splitRef('busybox')).toEqual({ domain: 'docker.io', repo: 'library/busybox', tag: 'latest' });
    expect(splitRef('registry.k8s.io/pause:3.9')).toEqual({ domain: 'registry.k8s.io', repo: 'pause', tag: '3.9' });
  });

  it('maps references to the paths a mirror is asked for', () => {
    expect(mirrorPath('docker.io/library/busybox:latest')).toBe('library/busybox:latest');
    expect(mirrorPath('kubeguide/redis-master')).toBe('kubeguide/redis-master:latest');
    expect(mirrorPath('registry.k8s.io/pause:3.9')).toBe('pause:3.9');
  });

  it('names images the way the Docker daemon lists them', () => {
    expect(dockerDaemonRef('docker.io/library/busybox:latest')).toBe('busybox:latest');
    expect(dockerDaemonRef('docker.io/kubeguide/redis-master:latest')).toBe('kubeguide/redis-master:latest');
    expect(dockerDaemonRef('registry.k8s.io/pause:3.9')).toBe('registry.k8s.io/pause:3.9');
  });

  it('has the five recipes with their upstream names', () => {
    expect(recipeNames()).toEqual(['pause', 'busybox', 'redis-master', 'guestbook-redis-slave', 'guestbook-php-frontend']);
    expect(getRecipe('pause').refs).toEqual(['registry.k8s.io/pause:3.9', 'k8ts/pause:3.9']);
    expect(getRecipe('pause').config.Entrypoint).toEqual(['/pause']);
    expect(getRecipe('busybox').config.Cmd).toEqual(['sh']);
    expect(() => getRecipe('nginx')).toThrow(/unknown image/);
  });
});
