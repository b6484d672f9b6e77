import type { Role, Scope } from '../../../identity';

/** Rate budgets for callers without a device certificate, per source address (and one for all). */
export const ANONYMOUS_BUDGETS = {
  /** Pairing: submit a CSR, watch it, fetch the CA bundle. */
  pairing: { perAddress: { capacity: 30, perMinute: 30 }, global: { capacity: 300, perMinute: 600 } },
  /** Renewal of an expired certificate (two calls per renewal). */
  renewal: { perAddress: { capacity: 10, perMinute: 10 }, global: { capacity: 100, perMinute: 300 } },
  /** Health checks and reflection (load balancers and probes poll these). */
  probe: { perAddress: { capacity: 120, perMinute: 600 }, global: { capacity: 1200, perMinute: 6000 } },
} as const;

/** The name of an anonymous rate budget. */
export type AnonymousBudget = keyof typeof ANONYMOUS_BUDGETS;

/** Token buckets: per source address, and one shared by all. */
export type AnonymousBudgets = Record<AnonymousBudget, { perAddress: { capacity: number; perMinute: number }; global: { capacity: number; perMinute: number } }>;

/** Who may call a method. Anything not in the table is denied. */
export type AccessRule =
  /** Callable without a client certificate; callers without one spend from `budget`. */
  | { anonymous: true; budget: AnonymousBudget }
  /** Callable by these roles; operators (and principals acting through the bridge) also need `scope`. */
  | {
      anonymous?: false;
      roles: readonly Role[];
      scope?: Scope;
      noDelegation?: boolean;
      /** Renewal: the certificate a renewal replaced moments ago is still heard (its answer may have been lost). */
      renewal?: true;
    };

const P = 'openclaw.devices.v1.PairingService';
const D = 'openclaw.devices.v1.DeviceService';
const L = 'openclaw.devices.v1.LegacyAuthService';
const G = 'openclaw.gateway.v1.GatewayService';
const E = 'openclaw.events.v1.EventService';
const C = 'openclaw.cron.v1.CronService';
const S = 'openclaw.sessions.v1.SessionService';
const CFG = 'openclaw.config.v1.ConfigService';
const LOG = 'openclaw.logs.v1.LogService';

const ANY_DEVICE: readonly Role[] = ['operator', 'node', 'backend', 'bridge'];
const PEOPLE_AND_BACKENDS: readonly Role[] = ['operator', 'backend'];

/**
 * The authorization table: every RPC of the gateway and who may call it. It is the
 * only place that says so; the interceptor denies any method that is not listed.
 */
export const AUTHZ_TABLE: Readonly<Record<string, AccessRule>> = {
  [`/${P}/SubmitCsr`]: { anonymous: true, budget: 'pairing' },
  [`/${P}/WatchPairing`]: { anonymous: true, budget: 'pairing' },
  [`/${P}/GetCaBundle`]: { anonymous: true, budget: 'pairing' },
  [`/${P}/BeginExpiredRenewal`]: { anonymous: true, budget: 'renewal' },
  [`/${P}/RenewExpiredCertificate`]: { anonymous: true, budget: 'renewal' },

  [`/${D}/ListDevices`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/ApprovePairing`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RejectPairing`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RevokeDevice`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RenameDevice`]: { roles: ['operator'], scope: 'operator.pairing' },
  // Legacy device tokens: an operator with pairing, or a legacy device through the bridge (it may only manage its own without admin).
  [`/${D}/RotateLegacyDeviceToken`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RevokeLegacyDeviceToken`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/CreateBootstrapToken`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${D}/ListBootstrapTokens`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${D}/RevokeBootstrapToken`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${D}/ExportCrl`]: { roles: ['operator'], scope: 'operator.read' },
  // A device renews its own certificate; never on behalf of someone else.
  [`/${D}/RenewCertificate`]: { roles: ANY_DEVICE, noDelegation: true, renewal: true },
  [`/${D}/WhoAmI`]: { roles: ANY_DEVICE },

  [`/${L}/AuthorizeLegacyDevice`]: { roles: ['bridge'], noDelegation: true },
  [`/${L}/VerifyDeviceToken`]: { roles: ['bridge'], noDelegation: true },

  [`/${G}/GetStatus`]: { roles: ANY_DEVICE, scope: 'operator.read' },
  [`/${G}/GetPresence`]: { roles: ['operator'], scope: 'operator.read' },
  [`/${G}/Ping`]: { roles: ANY_DEVICE },

  [`/${E}/Subscribe`]: { roles: ['operator', 'backend', 'node'], scope: 'operator.read' },
  [`/${E}/Unsubscribe`]: { roles: ['operator', 'backend', 'node'], scope: 'operator.read' },

  [`/${C}/ListJobs`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${C}/GetJob`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${C}/ListRuns`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${C}/GetCronStatus`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${C}/AddJob`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${C}/UpdateJob`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${C}/RemoveJob`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${C}/RunJob`]: { roles: ['operator'], scope: 'operator.admin' },
  // Only backends (the cron runner) take and complete due runs.
  [`/${C}/WatchDueRuns`]: { roles: ['backend'], noDelegation: true },
  [`/${C}/CompleteRun`]: { roles: ['backend'], noDelegation: true },

  [`/${S}/CreateSession`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.write' },
  [`/${S}/ListSessions`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${S}/DescribeSession`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${S}/DeleteSession`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.write' },
  [`/${S}/GetHistory`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${S}/SendMessage`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.write' },
  [`/${S}/AbortTurn`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.write' },
  [`/${S}/ListAgents`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },
  [`/${S}/ListModels`]: { roles: PEOPLE_AND_BACKENDS, scope: 'operator.read' },

  [`/${CFG}/GetConfig`]: { roles: ['operator'], scope: 'operator.read' },
  [`/${CFG}/PatchConfig`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${LOG}/TailLogs`]: { roles: ['operator'], scope: 'operator.read' },

  // Standard services: health for probes and load balancers, reflection for grpcurl.
  '/grpc.health.v1.Health/Check': { anonymous: true, budget: 'probe' },
  '/grpc.health.v1.Health/Watch': { anonymous: true, budget: 'probe' },
  '/grpc.health.v1.Health/List': { anonymous: true, budget: 'probe' },
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': { anonymous: true, budget: 'probe' },
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': { anonymous: true, budget: 'probe' },
};
