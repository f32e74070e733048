// Loads proto/api.proto (CRI runtime.v1) once and hands out grpc-js service constructors.
// keepCase: field names stay snake_case exactly as on the wire (pod_sandbox_id, ...);
// int64 come back as strings so nanosecond timestamps keep their precision.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';

// grpc-js + proto-loader/protobufjs cost ~20 MB of RSS: required on first use so an agent on
// Docker never loads them (both are CommonJS, so a synchronous require keeps the API sync).
const requireCjs = createRequire(import.meta.url);
let grpcMod: typeof grpc | undefined;
export function grpcJs(): typeof grpc {
  grpcMod ??= requireCjs('@grpc/grpc-js') as typeof grpc;
  return grpcMod;
}

export interface CriServices {
  // grpc-js dynamic clients: method names as in the proto (Version, RunPodSandbox, ...).
  RuntimeService: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => DynamicClient;
  ImageService: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => DynamicClient;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DynamicClient = grpc.Client & Record<string, any>;

let cached: CriServices | undefined;

/** The proto file, found both from the sources (tsx) and from dist/ after `npm run build`. */
export function criProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../../../proto/api.proto', '../../../../proto/api.proto']) {
    const p = join(here, rel);
    if (existsSync(p)) return p;
  }
  throw new Error(`proto/api.proto not found from ${here}`);
}

export function loadCriServices(): CriServices {
  if (cached) return cached;
  const loader = requireCjs('@grpc/proto-loader') as typeof protoLoader;
  const def = loader.loadSync(criProtoPath(), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpcJs().loadPackageDefinition(def) as unknown as { runtime: { v1: CriServices } };
  cached = pkg.runtime.v1;
  return cached;
}

/** int64 nanoseconds (as a decimal string) -> Date; 0 -> undefined. */
export function nanosToDate(ns: string | number | undefined | null): Date | undefined {
  if (ns === undefined || ns === null) return undefined;
  const n = BigInt(ns);
  if (n === 0n) return undefined;
  return new Date(Number(n / 1_000_000n));
}
