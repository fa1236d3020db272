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
    });
  }

  create(options: DevServerTokenOptions = {}): string {
    const id = newTokenId();
    const ttlSeconds = options.ttlSeconds ?? 0;
    this.tokens.set(id, {
      id,
      accessor: randomBytes(12).toString('base64url'),
      root: false,
      capabilities: new Set(options.capabilities ?? ALL),
      policies: ['default', 'transit'],
      ttlSeconds,
      renewable: options.renewable ?? ttlSeconds > 0,
      issuedAt: Date.now(),
      expiresAt: ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : undefined,
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
