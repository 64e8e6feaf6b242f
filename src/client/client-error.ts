// The one-line failure the client reports (its own module, so that the server list and the HTTPS connection can both throw it).

/**
 * A failure the client reports in one line. `EXPIRED`: the session ended during a run and signing in
 * again needs a person. `errno` is the network error code behind an UNREACHABLE one.
 */
export class ClientError extends Error {
  errno?: string;

  constructor(readonly code: 'UNREACHABLE' | 'UNTRUSTED' | 'HTTP' | 'PROTOCOL' | 'INPUT' | 'EXPIRED', message: string, readonly status?: number) {
    super(message);
    this.name = 'ClientError';
  }
}
