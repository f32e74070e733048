// --authorization-mode: which authorizers the apiserver consults, in order (upstream's
// AlwaysAllow, AlwaysDeny, Node, RBAC; ABAC and Webhook are not served). No imports: the CLI
// checks the flag before it loads the apiserver.
export const AUTHORIZATION_MODES = ['AlwaysAllow', 'AlwaysDeny', 'Node', 'RBAC'] as const;
export type AuthorizationMode = (typeof AUTHORIZATION_MODES)[number];

export const DEFAULT_AUTHORIZATION_MODES: readonly AuthorizationMode[] = ['Node', 'RBAC'];

/** A comma-separated list of known modes, each once (upstream's BuiltInAuthorizationOptions.Validate). */
export function parseAuthorizationModes(v: string): AuthorizationMode[] {
  const modes = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (modes.length === 0) throw new Error('at least one authorization-mode must be passed');
  const seen = new Set<string>();
  for (const m of modes) {
    if (!(AUTHORIZATION_MODES as readonly string[]).includes(m)) throw new Error(`authorization-mode ${JSON.stringify(m)} is not a valid mode`);
    if (seen.has(m)) throw new Error(`authorization-mode ${JSON.stringify(m)} has mode specified more than once`);
    seen.add(m);
  }
  return modes as AuthorizationMode[];
}
