// Entra ID authentication: an access token from the device code flow, validated, exchanged for this service's own token.

import { decodeJwt } from 'jose';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import type { AuthContext } from '../domain/security-settings.js';
import type { EntraValidator } from './entra-validator.js';
import type { IssuedToken, LoginService, LoginSource } from './login-service.js';
import type { SecurityState } from './security-state.js';

/** What the Entra ID login needs. */
export interface EntraLoginDeps {
  login: LoginService;
  security: SecurityState;
  validator: EntraValidator;
}

/** Signs in with an Entra ID access token. */
export type EntraLoginHandler = (accessToken: string, input: { context: AuthContext; source: LoginSource }) => Promise<IssuedToken>;

/** The message of the 503 answered when the authority cannot be reached (no token, no URL detail). */
export const ENTRA_UNREACHABLE_MESSAGE = 'Entra ID cannot be reached to check this sign-in; try again later (an administrator can check the Entra ID authority setting and the service log).';

/**
 * Entra ID login: validates the access token against the Entra ID settings in force (signature,
 * issuer, audience, tenant, expiry, app role) and issues a token whose subject is `<tid>/<oid>`,
 * with the user name in the audit detail. A refused token is audited with the validator's reason
 * (`entra_audience`, `entra_tenant`, `entra_not_access_token`, `entra_role`, `entra_expired`, `entra_unknown_key`, ...) or
 * `not_configured`, and answered with the generic AUTH_FAILED. An unreachable authority is audited
 * as `entra_unreachable` and answered with UNAVAILABLE (503), never a crash.
 */
export function createEntraLogin(deps: EntraLoginDeps): EntraLoginHandler {
  return async (accessToken, input) => {
    const settings = deps.security.settings.settings.entra;
    const refuse = async (reason: string): Promise<DeployrError> => deps.login.refuse({
      method: 'entra', subject: 'unknown', reason, context: input.context, source: input.source, detail: claimedIdentity(accessToken),
    });
    if (!settings) throw await refuse('not_configured');
    let identity;
    try {
      identity = await deps.validator.validate(accessToken, settings);
    } catch (err) {
      if (isDeployrError(err, 'AUTH_FAILED')) {
        const reason = typeof err.details.reason === 'string' ? err.details.reason : 'entra_rejected';
        throw await refuse(reason);
      }
      if (isDeployrError(err, 'UNAVAILABLE')) {
        await refuse('entra_unreachable');
        throw new DeployrError('UNAVAILABLE', ENTRA_UNREACHABLE_MESSAGE, { reason: 'entra_unreachable' });
      }
      await refuse('entra_error');
      throw err;
    }
    return deps.login.issueVerified({
      method: 'entra', subject: identity.subject, context: input.context, source: input.source,
      detail: {
        tenantId: identity.tenantId, objectId: identity.objectId, roles: identity.roles,
        ...(identity.username !== undefined ? { username: identity.username } : {}),
        ...(identity.name !== undefined ? { name: identity.name } : {}),
      },
    });
  };
}

/**
 * Who a refused token claims to be (unverified, for the audit trail only): tenant, object id and
 * user name, each cut to 128 characters. Empty when the token does not decode.
 */
function claimedIdentity(token: string): Record<string, unknown> {
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    return {};
  }
  const pick = (...names: string[]): string | undefined => {
    for (const name of names) {
      const value = payload[name];
      if (typeof value === 'string' && value !== '') return value.slice(0, 128);
    }
    return undefined;
  };
  const claimed = { tenantId: pick('tid'), objectId: pick('oid', 'sub'), username: pick('preferred_username', 'upn', 'unique_name') };
  const present = Object.fromEntries(Object.entries(claimed).filter(([, v]) => v !== undefined));
  return Object.keys(present).length > 0 ? { claimed: present } : {};
}
