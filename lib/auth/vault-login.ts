import type { HttpExchange } from '../session/http-exchange.js';
import type { IssuedToken, VaultAuthHttp } from './vault-auth-http.js';

/** A login method the renewing token source runs whenever it needs a new token. */
export interface VaultLogin {
  logIn(http: VaultAuthHttp, exchange: HttpExchange): Promise<IssuedToken>;
}
