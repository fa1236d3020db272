import type { Secret } from '../secret.js';
import type { HttpExchange } from '../session/http-exchange.js';
import { readSecretFile } from './secret-file.js';
import type { IssuedToken, VaultAuthHttp } from './vault-auth-http.js';
import type { VaultLogin } from './vault-login.js';

/** AppRole: `role_id` and a `secret_id` given or read from its file at every login (§8.4). */
export class AppRoleLogin implements VaultLogin {
  constructor(
    private readonly roleId: string,
    private readonly secretId: Secret | { readonly file: string },
    private readonly mount: string,
  ) {}

  async logIn(http: VaultAuthHttp, exchange: HttpExchange): Promise<IssuedToken> {
    const secretId =
      'file' in this.secretId
        ? await readSecretFile('AppRole secret id', this.secretId.file)
        : this.secretId;
    const secret = secretId.reveal();
    return http.login(
      exchange,
      'approle',
      this.mount,
      { role_id: this.roleId, secret_id: secret },
      [secret],
    );
  }
}
