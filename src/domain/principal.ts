// Who is calling: the identity a verified token stands for.

import type { AuthContext, AuthMethod } from './security-settings.js';

/** The caller behind a valid token. */
export interface Principal {
  method: AuthMethod;
  /** A user, a certificate thumbprint, "passcode" or "anonymous". */
  subject: string;
  context: AuthContext;
  /** When set, the only task sequence (id) this caller may read and run. */
  taskSequenceLimit: string | null;
  /** For certificate tokens: the SHA-256 thumbprint the connection must present. */
  certificateThumbprint: string | null;
  /** Token id. */
  tokenId: string;
  /** Token expiry (epoch seconds). */
  expiresAt: number;
}
