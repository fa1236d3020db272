/**
 * What a Vault node says it is, by its `sys/health` status (vault-transit-api §8.1). Standby
 * codes there are states, never rate limits: 429 is an unsealed standby, not "too many requests".
 */
export type VaultNodeState =
  | 'active'
  | 'standby'
  | 'performance-standby'
  | 'dr-secondary'
  /** 474: a standby that cannot reach its active node. */
  | 'standby-unhealthy'
  | 'uninitialized'
  | 'sealed'
  /** 530: removed from its cluster. */
  | 'removed';

/** One `sys/health` answer, read. */
export interface VaultHealthReading {
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The node's state, or undefined for a status `sys/health` never answers with. */
  readonly state: VaultNodeState | undefined;
  /**
   * Whether the node serves Transit: the active node, or a standby (whose requests are sent on
   * to the active node, by request forwarding or a followed 307).
   */
  readonly serving: boolean;
  /** Why the node does not serve (for a message), when it does not. */
  readonly problem: string | undefined;
  /** The answer's JSON body (Vault sends it with every status). */
  readonly body: Record<string, unknown> | undefined;
}

const STATES: ReadonlyMap<number, VaultNodeState> = new Map([
  [200, 'active'],
  [429, 'standby'],
  [472, 'dr-secondary'],
  [473, 'performance-standby'],
  [474, 'standby-unhealthy'],
  [501, 'uninitialized'],
  [503, 'sealed'],
  [530, 'removed'],
]);

const PROBLEMS: Readonly<Record<VaultNodeState, string | undefined>> = {
  active: undefined,
  standby: undefined,
  'performance-standby': undefined,
  'dr-secondary': 'the node is a DR secondary, which serves no Transit requests',
  'standby-unhealthy': 'the standby cannot reach its active node',
  uninitialized: 'Vault is not initialised',
  sealed: 'Vault is sealed',
  removed: 'the node was removed from its cluster',
};

/** Reads a `sys/health` answer given Vault's default status codes (no query overrides). */
export function readVaultHealth(
  status: number,
  body: Record<string, unknown> | undefined,
): VaultHealthReading {
  const state = STATES.get(status);
  if (state === undefined) {
    return {
      status,
      state,
      serving: false,
      problem: `sys/health answered HTTP ${status}`,
      body,
    };
  }
  const problem = PROBLEMS[state];
  return { status, state, serving: problem === undefined, problem, body };
}

/**
 * Key of the service's internal `sys/health` read, used by the health indicator (the
 * `<pkg>/health` entry) and not part of the public API.
 */
export const READ_VAULT_HEALTH = Symbol('nestjs-kms.readVaultHealth');
