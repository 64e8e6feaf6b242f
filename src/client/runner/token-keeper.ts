// Keeps the run's token: when the server answers 401 (the token expired during a long run), signs in again once and retries.

import { ClientError } from '../api-client.js';

/**
 * The current token, renewed when the server no longer accepts it. `renew` signs in again without a
 * person where the method allows (certificate, anonymous, the Passcode variable) and otherwise
 * throws a ClientError `EXPIRED`, which is passed to the `onLost` listener (the run stops, its state
 * kept) instead of waiting at a prompt for someone who may not be there.
 */
export class TokenKeeper {
  private renewing: Promise<string> | null = null;
  private lost: ((err: ClientError) => void) | null = null;

  constructor(private token: string, private readonly renew: (() => Promise<string>) | null = null) {}

  /** The token as it is now. */
  current(): string {
    return this.token;
  }

  /** Calls `listener` when the token expired and cannot be renewed without a person. */
  onLost(listener: (err: ClientError) => void): void {
    this.lost = listener;
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
        try {
          this.token = await this.renewing;
        } catch (renewError) {
          if (renewError instanceof ClientError && renewError.code === 'EXPIRED') this.lost?.(renewError);
          throw renewError;
        }
      }
      return call(this.token);
    }
  }
}
