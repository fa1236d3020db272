/**
 * Every message the library builds, in one place. None of them may interpolate a token, a
 * plaintext DEK, key material or a request header. Each says what to do next.
 */
export const messages = {
  invalidOption: (option: string, rule: string): string =>
    `Invalid KmsModule option "${option}": ${rule}.`,
  tokenProviderFailed: (): string =>
    'The vaultToken function threw or rejected: it must return the current Vault token.',
  tokenProviderTimedOut: (ms: number): string =>
    `The vaultToken function did not return a token within ${ms} ms (timeoutMs).`,
  tokenProviderInvalid: (): string =>
    'The vaultToken function returned no usable token: expected a non-empty string of visible ' +
    'ASCII characters (no spaces or line breaks).',
  callAborted: (operation: string): string =>
    `The caller aborted ${operation} (its AbortSignal fired); Vault may or may not have processed a request in flight.`,
  deadlineExceeded: (operation: string, ms: number): string =>
    `${operation} did not complete within ${ms} ms (deadlineMs), retries included. The call may succeed if retried later.`,
  rotationOutcomeUnknown: (keyName: string): string =>
    `rotateKek was sent for key "${keyName}" but its answer was lost, and whether Vault rotated ` +
    "the key cannot be told: read the key's latest_version before rotating again (repeating the " +
    'call could rotate twice).',
  circuitOpen: (operation: string, retryInMs: number): string =>
    `${operation} was not sent: Vault failed the last requests (circuit breaker open); ` +
    `the next attempt goes through in about ${Math.ceil(retryInMs)} ms.`,
  tenantIdType: (type: string): string =>
    `Invalid tenant id: expected a string, a safe integer or a bigint, got ${type}.`,
  tenantIdEmpty: (): string => 'Invalid tenant id: it must not be empty.',
  tenantIdNumber: (): string =>
    'Invalid tenant id: numbers must be safe integers (use a string or a bigint for larger ids).',
  keyNameInvalid: (source: string): string =>
    `Invalid tenant id: ${source} does not form a valid Vault key name ` +
    '(ASCII letters, digits and "_", with "-" or "." only inside, no "..", at most 255 characters). ' +
    'Use such ids, or configure a keyName mapping that produces them.',
  keyNameMapperFailed: (): string =>
    'The keyName mapping did not return a string for this tenant id; check the keyName option.',
  dekType: (what: string, type: string): string =>
    `Invalid ${what}: expected a Uint8Array (e.g. a Buffer), got ${type}.`,
  dekEmpty: (what: string): string => `Invalid ${what}: it must not be empty.`,
  dekTooLong: (what: string, max: number): string =>
    `Invalid ${what}: longer than ${max} bytes; a DEK is a key, encrypt payloads locally with it.`,
  batchInputType: (what: string, type: string): string =>
    `Invalid ${what}: expected an array of Uint8Array (e.g. Buffers), got ${type}.`,
  keyVersionInvalid: (): string =>
    'Invalid minVersion: expected a KEK version number, an integer from 1 to 2147483647.',
  encryptedDekShape: (): string =>
    'Invalid encryptedDek: not a Vault Transit ciphertext ("vault:v<N>:<base64>" as UTF-8 bytes). ' +
    'Pass the bytes returned by encryptDek, generateDek or rewrapDek unchanged.',
  sessionInactive: (): string =>
    'The session is no longer active: it was used after the callback that opened it settled. ' +
    'Use a session only inside pool.session(...) / session.atomic(...).',
  sessionInScope: (): string =>
    'The session has an atomic scope open: inside session.atomic(...), use the session the scope ' +
    'gave you (work on the outer session would escape the scope), and open scopes one at a time.',
  sessionWithoutRest: (): string =>
    'The session has no REST part: open it from RestSessionPool, or from a CompositeSessionPool that includes one.',
  noCurrentSession: (): string =>
    'No session is active here: mount SessionInterceptor (the mountInterceptor option, ' +
    'APP_INTERCEPTOR or @UseInterceptors) for HTTP handlers, and run other work through ' +
    'KmsSessionHost.withSession(...) or @WithSession().',
  unitOfWorkEnded: (): string =>
    'The unit of work this code belongs to has ended (its request answered or was abandoned): ' +
    'its session can no longer be used, and work joining it would escape its commit. Await the ' +
    "work inside the request, or run it with withSession(fn, { propagation: 'requires-new' }).",
  requestAbandoned: (): string =>
    'The response was abandoned before the handler finished (e.g. an outer timeout): its unit of ' +
    'work was rolled back.',
  withSessionWithoutHost: (method: string): string =>
    `@WithSession() on ${method} found no KmsSessionHost: the class must be a provider of a ` +
    'module that can see KmsModule (import KmsModule there, or register it with isGlobal).',
  kekNotFound: (operation: string, keyName: string): string =>
    `No KEK "${keyName}" for ${operation}: the tenant has no key, or it was deleted (crypto-shredded).`,
  decryptionFailed: (operation: string, keyName: string, vault: string): string =>
    `Vault could not ${operation} with key "${keyName}": ${vault}. ` +
    'The ciphertext was altered, belongs to another tenant or key, or its key version is no longer allowed.',
  invalidRequest: (operation: string, keyName: string, vault: string): string =>
    `Vault rejected ${operation} for key "${keyName}": ${vault}.`,
  accessDenied: (operation: string, vault: string, invalidToken: boolean): string =>
    `Vault denied ${operation}: ${vault}. ` +
    (invalidToken
      ? 'The token is unknown, expired or revoked; provide a valid token.'
      : "Check that the token is valid and that its policy grants this path's capability " +
        '(encrypt needs "create" and "update", the others "update", delete "delete").'),
  unsupportedPath: (operation: string, mount: string, vault: string): string =>
    `Vault has no route for ${operation} under mount "${mount}" (${vault}). ` +
    'Check the mount option and that a Transit engine is enabled there.',
  notVault: (operation: string, path: string, status: number): string =>
    `${path} answered ${operation} with HTTP ${status}, which Vault never does there: ` +
    'check that vaultAddr leads to Vault’s API (scheme, host, port and any path prefix).',
  redirected: (operation: string, status: number): string =>
    `Vault answered ${operation} with a redirect (HTTP ${status}): vaultAddr points at a standby ` +
    'node or a redirecting proxy. Point it at the active node or the cluster address.',
  healthTimeoutInvalid: (max: number): string =>
    `Invalid VaultHealthIndicator option "timeoutMs": an integer from 1 to ${max} is required.`,
  healthTimedOut: (ms: number): string => `Vault did not answer sys/health within ${ms} ms`,
  redirectRefused: (operation: string, status: number, target: string, why: string): string =>
    `Vault answered ${operation} with a redirect (HTTP ${status}) to ${target} that was not ` +
    `followed: ${why}. Check the cluster's api_addr, or point vaultAddr at the active node.`,
  unavailable: (operation: string, detail: string): string =>
    `Vault is unavailable for ${operation}: ${detail}. The call may succeed if retried later.`,
  timeout: (operation: string, ms: number): string =>
    `Vault did not answer ${operation} within ${ms} ms (timeoutMs). The call may succeed if retried later.`,
  badResponse: (operation: string, detail: string): string =>
    `Vault's answer to ${operation} was not understood: ${detail}. Check vaultAddr points at Vault.`,
} as const;
