import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { readPort } from './settings/sample-settings.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  await app.listen(readPort(app.get(ConfigService)), '127.0.0.1');
  new Logger('Sample').log(`listening on ${await app.getUrl()}`);
}

bootstrap().catch((error: unknown) => {
  new Logger('Sample').error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
