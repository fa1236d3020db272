import type { HttpExchange } from '../session/http-exchange.js';
import { readSecretFile } from './secret-file.js';
import type { IssuedToken, VaultAuthHttp } from './vault-auth-http.js';
import type { VaultLogin } from './vault-login.js';

/** Where Kubernetes mounts the pod's service-account token. */
export const DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE =
  '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Kubernetes: the role and the service-account JWT, read again at every login (§8.5). */
export class KubernetesLogin implements VaultLogin {
  constructor(
    private readonly role: string,
    private readonly jwtFile: string,
    private readonly mount: string,
  ) {}

  async logIn(http: VaultAuthHttp, exchange: HttpExchange): Promise<IssuedToken> {
    // Projected service-account tokens rotate: never reuse one read earlier.
    const jwt = (await readSecretFile('service-account token', this.jwtFile)).reveal();
    return http.login(exchange, 'kubernetes', this.mount, { role: this.role, jwt }, [jwt]);
  }
}
