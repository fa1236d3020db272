import type { LogicalOperation } from '../engine/transit-router.js';
import { TransitError, multiError } from '../engine/transit.error.js';
import { parseFields } from '../engine/vault-fields.js';
import { successEnvelope, type DevAnswer } from './dev-server-answer.js';
import { formatDuration } from './dev-server-http.js';
import type { DevServerToken } from './dev-server-tokens.js';

const RENEW_FIELDS = { increment: 'duration', token: 'string' } as const;
const DENIED: DevAnswer = { status: 403, body: { errors: [multiError(['permission denied'])] } };

/** The token store mounted at `auth/token/`, as far as the double implements it. */
export function tokenRoutes(
  operation: LogicalOperation | 'patch',
  path: string,
  data: Record<string, unknown>,
  token: DevServerToken,
): DevAnswer {
  // The default policy grants `read` on lookup-self and `update` on renew-self; root has all.
  const unsupported = (error: TransitError): DevAnswer =>
    token.root ? { status: error.status, body: { errors: error.errors } } : DENIED;
  if (path === 'lookup-self') {
    if (operation === 'read' || (operation === 'update' && token.root)) return lookupSelf(token);
    return operation === 'update' ? DENIED : unsupported(TransitError.unsupportedOperation());
  }
  if (path === 'renew-self') {
    if (operation === 'update') return renewSelf(token, data);
    return unsupported(TransitError.unsupportedOperation());
  }
  return unsupported(TransitError.unsupportedPath());
}

function lookupSelf(token: DevServerToken): DevAnswer {
  const now = Date.now();
  const ttl =
    token.expiresAt === undefined ? 0 : Math.max(0, Math.round((token.expiresAt - now) / 1000));
  const data = {
    accessor: token.accessor,
    creation_time: Math.floor(token.issuedAt / 1000),
    creation_ttl: token.ttlSeconds,
    display_name: token.root ? 'root' : (token.origin?.displayName ?? 'token'),
    entity_id: '',
    expire_time: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
    explicit_max_ttl: token.maxTtlSeconds,
    id: token.id,
    meta: token.origin?.meta ?? null,
    num_uses: 0,
    orphan: true,
    path: token.root ? 'auth/token/root' : (token.origin?.path ?? 'auth/token/create'),
    policies: token.policies,
    renewable: token.renewable,
    ttl,
    type: 'service',
  };
  return { status: 200, body: successEnvelope(data, undefined, 'token') };
}

/**
 * `increment` (seconds or a duration) asks for a TTL; none or 0 renews for the token's TTL,
 * which also caps it (sdk/framework/lease.go CalculateTTL), with Vault's warning. A max TTL
 * caps it further at the time left until `issuedAt + maxTtl` (Go truncates to whole seconds in
 * `lease_duration`; the token itself ends exactly at its max TTL).
 */
function renewSelf(token: DevServerToken, data: Record<string, unknown>): DevAnswer {
  const { values, warnings } = parseFields(data, RENEW_FIELDS);
  if (!token.renewable || token.expiresAt === undefined) {
    return { status: 400, body: { errors: ['lease is not renewable'] } };
  }
  const increment = (values['increment'] as number | undefined) ?? 0;
  let ttl = increment > 0 ? increment : token.ttlSeconds;
  if (ttl > token.ttlSeconds) {
    warnings.push(
      `TTL of "${formatDuration(ttl)}" exceeded the effective max_ttl of "${formatDuration(token.ttlSeconds)}"; TTL value is capped accordingly`,
    );
    ttl = token.ttlSeconds;
  }
  const now = Date.now();
  let expiresAt = now + ttl * 1000;
  if (token.maxTtlSeconds > 0) {
    const endsAt = token.issuedAt + token.maxTtlSeconds * 1000;
    if (expiresAt > endsAt) {
      const left = Math.max(0, Math.floor((endsAt - now) / 1000));
      warnings.push(
        `TTL of "${formatDuration(ttl)}" exceeded the effective max_ttl of "${formatDuration(left)}"; TTL value is capped accordingly`,
      );
      ttl = left;
      expiresAt = endsAt;
    }
  }
  token.expiresAt = expiresAt;
  const auth = {
    client_token: token.id,
    accessor: token.accessor,
    policies: token.policies,
    token_policies: token.policies,
    metadata: token.origin?.meta ?? null,
    lease_duration: ttl,
    renewable: true,
    entity_id: '',
    token_type: 'service',
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  };
  const envelope = successEnvelope(null, warnings, 'token');
  return { status: 200, body: { ...envelope, auth } };
}
