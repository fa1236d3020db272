import { Inject } from '@nestjs/common';
import { KEY_MANAGEMENT_SERVICE } from './kms.constants.js';

/**
 * Injects the {@link IKeyManagementService}; type the parameter with `import type`.
 * @publicApi
 */
export const InjectKeyManagementService = (): PropertyDecorator & ParameterDecorator =>
  Inject(KEY_MANAGEMENT_SERVICE);
