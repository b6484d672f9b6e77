import type { Role, Scope } from '../../../identity';

/** Who may call a method. Anything not in the table is denied. */
export type AccessRule =
  /** Callable without a client certificate (pairing only). */
  | { anonymous: true }
  /** Callable by these roles; operators (and principals acting through the bridge) also need `scope`. */
  | { anonymous?: false; roles: readonly Role[]; scope?: Scope; noDelegation?: boolean };

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
  [`/${P}/SubmitCsr`]: { anonymous: true },
  [`/${P}/WatchPairing`]: { anonymous: true },
  [`/${P}/GetCaBundle`]: { anonymous: true },
  [`/${P}/RenewExpiredCertificate`]: { anonymous: true },

  [`/${D}/ListDevices`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/ApprovePairing`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RejectPairing`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RevokeDevice`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/RenameDevice`]: { roles: ['operator'], scope: 'operator.pairing' },
  [`/${D}/CreateBootstrapToken`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${D}/ListBootstrapTokens`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${D}/RevokeBootstrapToken`]: { roles: ['operator'], scope: 'operator.admin' },
  [`/${D}/ExportCrl`]: { roles: ['operator'], scope: 'operator.read' },
  // A device renews its own certificate; never on behalf of someone else.
  [`/${D}/RenewCertificate`]: { roles: ANY_DEVICE, noDelegation: true },
  [`/${D}/WhoAmI`]: { roles: ANY_DEVICE },

  [`/${L}/AuthorizeLegacyDevice`]: { roles: ['bridge'], noDelegation: true },
  [`/${L}/VerifyDeviceToken`]: { roles: ['bridge'], noDelegation: true },

  [`/${G}/GetStatus`]: { roles: ANY_DEVICE, scope: 'operator.read' },
  [`/${G}/GetPresence`]: { roles: ['operator'], scope: 'operator.read' },
  [`/${G}/Ping`]: { roles: ANY_DEVICE },

  [`/${E}/Subscribe`]: { roles: ['operator', 'backend', 'node'], scope: 'operator.read' },

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
  '/grpc.health.v1.Health/Check': { anonymous: true },
  '/grpc.health.v1.Health/Watch': { anonymous: true },
  '/grpc.health.v1.Health/List': { anonymous: true },
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': { anonymous: true },
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': { anonymous: true },
};
