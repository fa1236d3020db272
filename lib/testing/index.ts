export {
  startTransitDevServer,
  type TransitDevServer,
  type TransitDevServerOptions,
  type TransitDevServerRequest,
} from './transit-dev-server.js';
export type { DevServerTokenOptions } from './dev-server-tokens.js';
export type { TransitDevServerTls, TransitDevServerTlsOptions } from './dev-server-tls.js';
export type { TransitDevServerStandby } from './dev-server-standby.js';
export type {
  DevServerAppRole,
  DevServerAppRoleOptions,
  DevServerKubernetesRoleOptions,
  DevServerLogin,
  DevServerLoginTokenOptions,
} from './dev-server-auth-methods.js';
export type {
  DevServerDelayFault,
  DevServerFault,
  DevServerFaultKind,
  DevServerFaultMatch,
  DevServerFaultScope,
  DevServerResetFault,
  DevServerSealedFault,
  DevServerSlowBodyFault,
  DevServerStatusFault,
} from './dev-server-faults.js';
export type { Capability } from '../engine/transit-router.js';
