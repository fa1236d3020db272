/** Injection token: how many rows one rewrap unit of work handles (one transaction, one commit). */
export const REWRAP_PAGE_SIZE = Symbol('REWRAP_PAGE_SIZE');

export const DEFAULT_REWRAP_PAGE_SIZE = 200;
