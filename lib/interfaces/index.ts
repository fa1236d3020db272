export type {
  GeneratedDek,
  IKeyManagementService,
  TenantId,
} from './key-management-service.interface.js';
export type { ISession, ISessionPool, SessionKind } from './session.interface.js';
export type { KmsModuleOptions, VaultKeyType } from './kms-module-options.interface.js';
