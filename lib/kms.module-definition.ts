import { ConfigurableModuleBuilder } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { KmsModuleOptions } from './interfaces/kms-module-options.interface.js';
import { SessionInterceptor } from './session/session.interceptor.js';

export const {
  ConfigurableModuleClass: KmsConfigurableModule,
  MODULE_OPTIONS_TOKEN: KMS_MODULE_OPTIONS,
  OPTIONS_TYPE: KMS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: KMS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<KmsModuleOptions>({ moduleName: 'Kms' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createKmsOptions')
  .setExtras({ isGlobal: false, mountInterceptor: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    providers: extras.mountInterceptor
      ? [
          ...(definition.providers ?? []),
          { provide: APP_INTERCEPTOR, useExisting: SessionInterceptor },
        ]
      : definition.providers,
  }))
  .build();
