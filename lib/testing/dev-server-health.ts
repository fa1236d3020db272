import type { DevAnswer } from './dev-server-answer.js';
import { parseGoBool, parseGoInt, writtenStatus, type GoQuery } from './dev-server-http.js';

// Query parameters of sys/health taking a status code (http/sys_health.go).
const HEALTH_CODES = [
  'uninitcode',
  'sealedcode',
  'standbycode',
  'drsecondarycode',
  'performancestandbycode',
  'activecode',
  'haunhealthycode',
  'removedcode',
];
const VERSION = '1.21.0+transit-dev-server';

/**
 * `GET|HEAD sys/health` (vault-transit-api §8.1): 200 active, or 503 sealed, each overridable by
 * the `*code` parameters; the JSON body comes with every status (GET).
 */
export function sysHealth(
  method: string,
  query: GoQuery,
  sealed: boolean,
  clusterId: string,
): DevAnswer {
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, body: { errors: [] } };
  // Bad values answer 400 {"errors":[]} (http/sys_health.go getSysHealth).
  for (const name of ['standbyok', 'perfstandbyok']) {
    const value = query.values.get(name)?.[0];
    // parseutil.ParseBool decodes weakly: an empty value is false.
    if (value !== undefined && value !== '' && parseGoBool(value) === undefined)
      return { status: 400, body: { errors: [] } };
  }
  const codes = new Map<string, number>();
  for (const name of HEALTH_CODES) {
    const value = query.values.get(name)?.[0];
    if (value === undefined) continue;
    const code = parseGoInt(value);
    if (code === undefined) return { status: 400, body: { errors: [] } };
    codes.set(name, code);
  }
  const status = sealed ? (codes.get('sealedcode') ?? 503) : (codes.get('activecode') ?? 200);
  // Vault takes any int, but Go's WriteHeader panics below 100 or above 999 (the connection
  // drops without an answer): the double answers 400 instead.
  if (writtenStatus(status) === undefined) return { status: 400, body: { errors: [] } };
  const info: Record<string, unknown> = {
    initialized: true,
    sealed,
    standby: sealed,
    performance_standby: false,
    replication_performance_mode: 'disabled',
    replication_dr_mode: 'disabled',
    server_time_utc: Math.floor(Date.now() / 1000),
    version: VERSION,
  };
  if (!sealed)
    Object.assign(info, { cluster_name: 'vault-cluster-transit-dev', cluster_id: clusterId });
  return { status, body: method === 'HEAD' ? undefined : info };
}
