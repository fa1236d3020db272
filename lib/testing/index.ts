export {
  startTransitDevServer,
  type TransitDevServer,
  type TransitDevServerOptions,
  type TransitDevServerRequest,
} from './transit-dev-server.js';
export type { DevServerTokenOptions } from './dev-server-tokens.js';
export type { Capability } from '../engine/transit-router.js';
