// The security settings an administrator configures, and the rules that derive the active methods from them.

/** The passcode as the store keeps it: only an argon2id PHC string, never the passcode itself. */
export interface StoredPasscode {
  /** argon2id hash in PHC string form. */
  hash: string;
  /** Increases with every change; tokens carry the generation they were issued under. */
  generation: number;
  /** ISO 8601 time of the change. */
  changedAt: string;
}

/** A previous passcode that stays valid until `validUntil` (an explicit rotation overlap window). */
export interface PreviousPasscode extends StoredPasscode {
  validUntil: string;
}

/** Entra ID (device code flow) settings. */
export interface EntraSettings {
  tenantId: string;
  clientId: string;
  /** The app role a user must hold. */
  role: string;
  /** Authority base URL; Microsoft's by default. */
  authority: string;
}

/** Which client certificates are accepted for certificate authentication. */
export interface CertificateSettings {
  /** PEM bundle of the trusted CA certificates. */
  caPem: string;
  /** Glob on the subject CN, for example `*.contoso.test`. */
  subjectPattern?: string;
  /** Glob on DNS/URI/email subject alternative names. */
  sanPattern?: string;
  /** Require the clientAuth extended key usage (default true). */
  requireClientAuthEku: boolean;
  /** A CRL file reloaded without a restart. */
  crlPath?: string;
}

/** Everything under "Security Settings" of the configuration tool. */
export interface SecuritySettings {
  passcode: StoredPasscode | null;
  previousPasscode: PreviousPasscode | null;
  /**
   * The highest passcode generation ever used, kept when the passcode is removed, so that a passcode
   * set later starts above it and no token of a removed passcode works again.
   */
  lastPasscodeGeneration?: number;
  /** Seconds an old passcode keeps working after a change (0: none, the default). */
  rotationOverlapSeconds: number;
  /** Warn when the passcode is older than this many seconds (0: never). */
  remindAfterSeconds: number;
  /** Bypass (anonymous) authentication: lab use only. */
  bypass: boolean;
  entra: EntraSettings | null;
  certificate: CertificateSettings | null;
}

/** The settings of a new installation: nothing configured, so no token is issued to anyone. */
export const DEFAULT_SECURITY_SETTINGS: SecuritySettings = Object.freeze({
  passcode: null,
  previousPasscode: null,
  rotationOverlapSeconds: 0,
  remindAfterSeconds: 0,
  bypass: false,
  entra: null,
  certificate: null,
});

/** Microsoft's Entra ID authority. */
export const MICROSOFT_AUTHORITY = 'https://login.microsoftonline.com';

/** The authentication methods, in the order the client tries them (DeployR's order). */
export const METHOD_ORDER = ['anonymous', 'certificate', 'entra', 'passcode'] as const;

/** One authentication method. */
export type AuthMethod = (typeof METHOD_ORDER)[number];

/** Where a task sequence is being started: a boot environment, or an installed ("full") OS. */
export type AuthContext = 'boot' | 'fullos';

/** The methods that are configured, in the client's order. */
export function configuredMethods(s: SecuritySettings): AuthMethod[] {
  return METHOD_ORDER.filter((m) => {
    switch (m) {
      case 'anonymous': return s.bypass;
      case 'certificate': return s.certificate !== null;
      case 'entra': return s.entra !== null;
      case 'passcode': return s.passcode !== null;
    }
  });
}

/**
 * Whether a passcode login is allowed in this context. While Entra ID is configured a passcode is
 * refused at boot (remove the Entra ID settings to use it there); a full-OS start may still use it.
 */
export function passcodeAllowed(s: SecuritySettings, context: AuthContext): boolean {
  if (s.passcode === null) return false;
  return context === 'fullos' || s.entra === null;
}

/** The passcode generations whose tokens are valid at `now` (the current one, plus one inside an overlap window). */
export function validPasscodeGenerations(s: SecuritySettings, now: Date): number[] {
  const generations: number[] = [];
  if (s.passcode) generations.push(s.passcode.generation);
  if (s.previousPasscode && Date.parse(s.previousPasscode.validUntil) > now.getTime()) {
    generations.push(s.previousPasscode.generation);
  }
  return generations;
}
