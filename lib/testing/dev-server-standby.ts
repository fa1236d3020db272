/**
 * The dev server acting as a standby node of an HA cluster. @publicApi
 *
 * A standby answers `sys/health` itself (429, or 473 as a performance standby) and every other
 * API request with `307 Temporary Redirect` to the active node — what a Vault standby does
 * when request forwarding is off (`http/handler.go` respondStandby): the `Location` is the
 * active node's address with the request's path and query, the body empty.
 */
export interface TransitDevServerStandby {
  /**
   * The active node's address (its `api_addr`), e.g. another dev server's `address`; only its
   * scheme and host (with port) are used.
   */
  readonly activeAddress: string;
  /** A performance standby: `sys/health` answers 473 and `performance_standby: true`. @default false */
  readonly performance?: boolean;
}

/** A standby setting after validation: the active node's origin. */
export interface ResolvedStandby {
  readonly activeOrigin: string;
  readonly performance: boolean;
}

/** Validates a standby setting; throws a TypeError for a malformed one. */
export function resolveStandby(
  standby: TransitDevServerStandby | undefined,
): ResolvedStandby | undefined {
  if (standby === undefined) return undefined;
  if (typeof standby !== 'object' || standby === null)
    throw new TypeError('standby must be an object with an activeAddress');
  let active: URL;
  try {
    active = new URL(String(standby.activeAddress));
  } catch {
    throw new TypeError('standby.activeAddress must be an http(s) URL');
  }
  if (active.protocol !== 'http:' && active.protocol !== 'https:')
    throw new TypeError('standby.activeAddress must be an http(s) URL');
  return { activeOrigin: active.origin, performance: standby.performance === true };
}

/**
 * The `Location` of a standby's redirect: the active node's scheme and host, the request's
 * (escaped) path and raw query.
 */
export function standbyLocation(
  standby: ResolvedStandby,
  escapedPath: string,
  rawQuery: string,
): string {
  return `${standby.activeOrigin}${escapedPath}${rawQuery ? `?${rawQuery}` : ''}`;
}
