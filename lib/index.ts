// The package's only public entry: every export is listed by name.
export { KmsModule } from './kms.module.js';
export { KEY_MANAGEMENT_SERVICE, SESSION_POOL } from './kms.constants.js';
export { InjectKeyManagementService } from './kms.decorators.js';
export type {
  BatchItemResult,
  CircuitBreakerOptions,
  GeneratedDek,
  IKeyManagementService,
  ISession,
  ISessionPool,
  KmsCallOptions,
  KmsModuleOptions,
  KmsTransport,
  RetireKekOptions,
  RetryOptions,
  SessionKind,
  TenantId,
  VaultKeyType,
  VaultTokenProvider,
} from './interfaces/index.js';
export { VaultTransitService } from './providers/vault-transit/vault-transit.service.js';
export type {
  AppRoleAuthOptions,
  KubernetesAuthOptions,
  TokenAuthOptions,
  TokenFileAuthOptions,
  VaultAuthOptions,
} from './auth/vault-auth-options.interface.js';
export type { DekCacheOptions } from './providers/vault-transit/dek-cache.js';
export type {
  KmsAttemptEndedEvent,
  KmsAttemptStartedEvent,
  KmsCacheLookupEvent,
  KmsOperationEndedEvent,
  KmsOperationStartedEvent,
  KmsSignals,
} from './providers/vault-transit/kms-signals.js';
export {
  InMemoryKeyManagementService,
  type InMemoryKmsCall,
  type InMemoryKmsOptions,
} from './providers/in-memory/in-memory.kms.js';
export { BaseSession, type SessionScope } from './session/base-session.js';
export { RestSession } from './session/rest-session.js';
export type {
  HttpExchange,
  HttpExchangeRequest,
  HttpExchangeResponse,
} from './session/http-exchange.js';
export { RestSessionPool, type RestSessionPoolOptions } from './session/rest-session-pool.js';
export type { KmsTlsOptions } from './session/tls-options.js';
export { CompositeSession } from './session/composite-session.js';
export { CompositeSessionPool } from './session/composite-session-pool.js';
export { openSession, type SessionPoolIdentity } from './session/open-session.js';
export { extractRequest } from './session/extract-request.js';
export { KmsSessionHost } from './session/kms-session.host.js';
export { SessionInterceptor } from './session/session.interceptor.js';
export { CurrentSession } from './session/current-session.decorator.js';
export { WithSession } from './session/with-session.decorator.js';
export type { SessionPropagation, WithSessionOptions } from './session/session-propagation.js';
export type { Disconnect, Signal } from './session/signal.js';
export type {
  AtomicEndedEvent,
  AtomicStartedEvent,
  RequestEndedEvent,
  RequestStartedEvent,
  SessionEndedEvent,
  SessionSignals,
  SessionStartedEvent,
} from './session/session-signals.js';
export { createSessionSignals } from './session/session-signals.js';
export {
  KekNotFoundError,
  KmsAbortedError,
  KmsAccessDeniedError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsError,
  KmsInvalidInputError,
  KmsOutcomeUnknownError,
  KmsSessionError,
  KmsUnavailableError,
  type KmsErrorOptions,
  type KmsUnavailableReason,
} from './errors/index.js';
