import { Module, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { KmsModule } from '@ascetic-ddd/nestjs-kms';
import { KeysController } from './keys.controller.js';
import { EmbeddedVault } from './kms-settings.js';

const embeddedVault = new EmbeddedVault();

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    KmsModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => embeddedVault.options(config),
    }),
  ],
  controllers: [KeysController],
})
export class AppModule implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await embeddedVault.close();
  }
}
