/** Injection token of the {@link IKeyManagementService}. @publicApi */
export const KEY_MANAGEMENT_SERVICE: unique symbol = Symbol('KEY_MANAGEMENT_SERVICE');

/** Injection token of the {@link ISessionPool} the service's sessions come from. @publicApi */
export const SESSION_POOL: unique symbol = Symbol('SESSION_POOL');
