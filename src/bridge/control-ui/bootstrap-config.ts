/** Paths the Control UI (and older bundles) fetch their bootstrap config from. */
export const BOOTSTRAP_CONFIG_PATHS: readonly string[] = ['/control-ui-config.json', '/__openclaw/control-ui-config.json', '/__openclaw__/control-ui-config.json'];

/** The legacy gateway's answer to a request without a valid bearer token. */
export const UNAUTHORIZED_BODY = { error: { message: 'Unauthorized', type: 'unauthorized' } } as const;

/** What the bootstrap config says about this gateway. */
export interface BootstrapFacts {
  /** This gateway's version (the UI shows it). */
  serverVersion: string;
  /** Default agent id (the UI's assistant). */
  assistantAgentId: string;
}

/**
 * `GET /control-ui-config.json` as the legacy gateway answers it (same keys), with this
 * gateway's values: no terminal and no CLI agents (it has neither), no plugin frames, and
 * no `serverBuildId` (the legacy gateway leaves it out too when the UI root is configured).
 */
export function bootstrapConfig(facts: BootstrapFacts): Record<string, unknown> {
  return {
    basePath: '',
    assistantName: 'Assistant',
    assistantAvatar: 'A',
    assistantAvatarSource: null,
    assistantAvatarStatus: null,
    assistantAvatarReason: null,
    assistantAgentId: facts.assistantAgentId,
    serverVersion: facts.serverVersion,
    embedSandbox: 'scripts',
    allowExternalEmbedUrls: false,
    automaticallyFetchFavicons: true,
    communityInvite: true,
    terminalEnabled: false,
    cliAgentsEnabled: false,
    pluginAssetsRequireAuth: true,
    pluginFrameGrants: [],
  };
}

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m ? m[1] : undefined;
}
