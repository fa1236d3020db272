import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { KmsModuleOptions } from './interfaces/kms-module-options.interface.js';

export const {
  ConfigurableModuleClass: KmsConfigurableModule,
  MODULE_OPTIONS_TOKEN: KMS_MODULE_OPTIONS,
  OPTIONS_TYPE: KMS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: KMS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<KmsModuleOptions>({ moduleName: 'Kms' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createKmsOptions')
  .setExtras({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
