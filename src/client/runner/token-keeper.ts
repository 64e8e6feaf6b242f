// Keeps the run's token: when the server answers 401 (the token expired during a long run), signs in again once and retries.

import { ClientError } from '../api-client.js';

/** The current token, renewed by signing in again when the server no longer accepts it. */
export class TokenKeeper {
  private renewing: Promise<string> | null = null;

  constructor(private token: string, private readonly renew: (() => Promise<string>) | null = null) {}

  /** The token as it is now. */
  current(): string {
    return this.token;
  }

  /** Runs `call` with the token; on a 401 signs in again (once for all callers at the same time) and retries once. */
  async use<T>(call: (token: string) => Promise<T>): Promise<T> {
    const used = this.token;
    try {
      return await call(used);
    } catch (err) {
      if (!(err instanceof ClientError) || err.status !== 401 || !this.renew) throw err;
      if (this.token === used) {
        this.renewing ??= this.renew().finally(() => { this.renewing = null; });
        this.token = await this.renewing;
      }
      return call(this.token);
    }
  }
}
