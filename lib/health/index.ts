// The `@ascetic-ddd/nestjs-kms/health` entry: needs the optional peer `@nestjs/terminus`, so it
// is kept out of the main entry.
export { VaultHealthIndicator, type VaultHealthCheckOptions } from './vault-transit.health.js';
