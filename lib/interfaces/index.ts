export type {
  BatchItemResult,
  GeneratedDek,
  IKeyManagementService,
  KmsCallOptions,
  RetireKekOptions,
  TenantId,
} from './key-management-service.interface.js';
export type { ISession, ISessionPool, SessionKind } from './session.interface.js';
export type {
  CircuitBreakerOptions,
  KmsModuleOptions,
  KmsTransport,
  RetryOptions,
  VaultKeyType,
  VaultTokenProvider,
} from './kms-module-options.interface.js';
