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

/** What sys/health reports of the node. */
export interface DevHealthState {
  readonly initialized: boolean;
  readonly sealed: boolean;
  /** A standby node, or a performance standby; undefined for the active node. */
  readonly standby: 'standby' | 'performance' | undefined;
}

/**
 * `GET|HEAD sys/health` (vault-transit-api §8.1): 200 active, 429 standby, 473 performance
 * standby, 501 not initialised, 503 sealed, each overridable by the `*code` parameters
 * (`standbyok` / `perfstandbyok` answer a standby with the active code); the JSON body comes with
 * every status (GET).
 */
export function sysHealth(
  method: string,
  query: GoQuery,
  state: DevHealthState,
  clusterId: string,
): DevAnswer {
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, body: { errors: [] } };
  // Bad values answer 400 {"errors":[]} (http/sys_health.go getSysHealth).
  const flags = new Map<string, boolean>();
  for (const name of ['standbyok', 'perfstandbyok']) {
    const value = query.values.get(name)?.[0];
    // parseutil.ParseBool decodes weakly: an empty value is false.
    if (value === undefined || value === '') continue;
    const flag = parseGoBool(value);
    if (flag === undefined) return { status: 400, body: { errors: [] } };
    flags.set(name, flag);
  }
  const codes = new Map<string, number>();
  for (const name of HEALTH_CODES) {
    const value = query.values.get(name)?.[0];
    if (value === undefined) continue;
    const code = parseGoInt(value);
    if (code === undefined) return { status: 400, body: { errors: [] } };
    codes.set(name, code);
  }
  const status = statusOf(state, codes, flags);
  // Vault takes any int, but Go's WriteHeader panics below 100 or above 999 (the connection
  // drops without an answer): the double answers 400 instead.
  if (writtenStatus(status) === undefined) return { status: 400, body: { errors: [] } };
  const { initialized, sealed, standby } = state;
  const info: Record<string, unknown> = {
    initialized,
    sealed: sealed || !initialized,
    // A sealed node is never the active one.
    standby: sealed || !initialized || standby !== undefined,
    performance_standby: !sealed && initialized && standby === 'performance',
    replication_performance_mode: 'disabled',
    replication_dr_mode: 'disabled',
    server_time_utc: Math.floor(Date.now() / 1000),
    version: VERSION,
  };
  if (initialized && !sealed)
    Object.assign(info, { cluster_name: 'vault-cluster-transit-dev', cluster_id: clusterId });
  return { status, body: method === 'HEAD' ? undefined : info };
}

/** The status the node's state calls for, in Vault's order (uninitialised first). */
function statusOf(
  state: DevHealthState,
  codes: ReadonlyMap<string, number>,
  flags: ReadonlyMap<string, boolean>,
): number {
  const active = codes.get('activecode') ?? 200;
  if (!state.initialized) return codes.get('uninitcode') ?? 501;
  if (state.sealed) return codes.get('sealedcode') ?? 503;
  if (state.standby === 'performance')
    return flags.get('perfstandbyok') ? active : (codes.get('performancestandbycode') ?? 473);
  if (state.standby === 'standby')
    return flags.get('standbyok') ? active : (codes.get('standbycode') ?? 429);
  return active;
}
