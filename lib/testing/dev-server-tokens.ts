import { randomBytes } from 'node:crypto';
import type { Capability } from '../engine/transit-router.js';

/** What a dev-server token may do. @publicApi */
export interface DevServerTokenOptions {
  /** Capabilities on every path of the Transit mount. @default all of create, read, update, delete, list */
  readonly capabilities?: readonly Capability[];
  /** Time to live in seconds; 0 means it never expires. @default 0 */
  readonly ttlSeconds?: number;
  /** Whether `auth/token/renew-self` may extend it. @default true when ttlSeconds > 0 */
  readonly renewable?: boolean;
  /**
   * Lifetime in seconds, counted from creation, that no renewal can extend (Vault's max TTL);
   * 0 means no limit beyond `ttlSeconds` per renewal.
   * @default 0
   */
  readonly maxTtlSeconds?: number;
}

/** How a token came to be, as `lookup-self` reports it. Internal: set by the login routes. */
export interface DevServerTokenOrigin {
  /** e.g. `auth/approle/login`. */
  readonly path: string;
  /** e.g. `approle`. */
  readonly displayName: string;
  readonly meta: Readonly<Record<string, string>>;
}

export interface DevServerToken {
  readonly id: string;
  readonly accessor: string;
  readonly root: boolean;
  readonly capabilities: ReadonlySet<Capability>;
  readonly policies: readonly string[];
  readonly ttlSeconds: number;
  readonly renewable: boolean;
  readonly issuedAt: number;
  expiresAt: number | undefined; // epoch ms
  /** Seconds after `issuedAt` past which no renewal extends the token; 0 for no such limit. */
  readonly maxTtlSeconds: number;
  readonly origin: DevServerTokenOrigin | undefined;
}

const ALL: readonly Capability[] = ['create', 'read', 'update', 'delete', 'list'];

export function newTokenId(): string {
  return `hvs.${randomBytes(18).toString('base64url')}`;
}

/** The dev server's token store: the root token plus tokens tests mint with capabilities and TTLs. */
export class DevServerTokens {
  private readonly tokens = new Map<string, DevServerToken>();

  constructor(rootToken: string) {
    this.tokens.set(rootToken, {
      id: rootToken,
      accessor: randomBytes(12).toString('base64url'),
      root: true,
      capabilities: new Set(ALL),
      policies: ['root'],
      ttlSeconds: 0,
      renewable: false,
      issuedAt: Date.now(),
      expiresAt: undefined,
      maxTtlSeconds: 0,
      origin: undefined,
    });
  }

  create(options: DevServerTokenOptions = {}, origin?: DevServerTokenOrigin): string {
    const id = newTokenId();
    const ttlSeconds = options.ttlSeconds ?? 0;
    const maxTtlSeconds = options.maxTtlSeconds ?? 0;
    const now = Date.now();
    const ttlMs =
      maxTtlSeconds > 0 ? Math.min(ttlSeconds, maxTtlSeconds) * 1000 : ttlSeconds * 1000;
    this.tokens.set(id, {
      id,
      accessor: randomBytes(12).toString('base64url'),
      root: false,
      capabilities: new Set(options.capabilities ?? ALL),
      policies: ['default', 'transit'],
      ttlSeconds,
      renewable: options.renewable ?? ttlSeconds > 0,
      issuedAt: now,
      expiresAt: ttlSeconds > 0 ? now + ttlMs : undefined,
      maxTtlSeconds,
      origin,
    });
    return id;
  }

  revoke(id: string): void {
    this.tokens.delete(id);
  }

  /** The live token with this id, or undefined (unknown, revoked or expired). */
  find(id: string | undefined): DevServerToken | undefined {
    if (!id) return undefined;
    const token = this.tokens.get(id);
    if (!token) return undefined;
    if (token.expiresAt !== undefined && token.expiresAt <= Date.now()) {
      this.tokens.delete(id);
      return undefined;
    }
    return token;
  }
}
