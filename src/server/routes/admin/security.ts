// /v1/admin/security: the security settings without secrets (viewer), and changing them (admin) through SecurityAdmin.

import { X509Certificate } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { SecurityChange } from '../../../auth/security-admin.js';
import { DeployrError } from '../../../domain/errors.js';
import { configuredMethods, type SecuritySettings } from '../../../domain/security-settings.js';
import { actorOf } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

const MethodSchema = Type.Object({ method: Type.String(), needs: Type.String() });

/** The security settings as the console shows them: never a hash, key or passcode. */
export const SecurityViewSchema = Type.Object({
  revision: Type.Integer(),
  updatedAt: Type.String(),
  methods: Type.Array(MethodSchema, { description: "configured methods in the client's order" }),
  passcode: Type.Union([Type.Null(), Type.Object({ changedAt: Type.String(), ageSeconds: Type.Integer(), generation: Type.Integer(), reminderDue: Type.Boolean() })]),
  previousPasscodeValidUntil: Type.Union([Type.Null(), Type.String()]),
  rotationOverlapSeconds: Type.Integer(),
  remindAfterSeconds: Type.Integer(),
  bypass: Type.Boolean(),
  entra: Type.Union([Type.Null(), Type.Object({ tenantId: Type.String(), clientId: Type.String(), role: Type.String(), authority: Type.String() })]),
  certificate: Type.Union([Type.Null(), Type.Object({
    subjectPattern: Type.Union([Type.Null(), Type.String()]), sanPattern: Type.Union([Type.Null(), Type.String()]),
    crlPath: Type.Union([Type.Null(), Type.String()]), requireClientAuthEku: Type.Boolean(),
    caCertificates: Type.Array(Type.Object({ subject: Type.String(), notAfter: Type.String(), sha256: Type.String() }), { description: 'the trusted CAs (public certificates; the bundle itself is not repeated)' }),
  })]),
  warnings: Type.Optional(Type.Array(Type.String())),
});
type SecurityView = Static<typeof SecurityViewSchema>;

const NEEDS: Record<string, string> = {
  anonymous: 'nothing: anyone who reaches the server gets a token (lab use only)',
  certificate: 'a client certificate issued by a trusted CA',
  entra: 'an Entra ID account holding the app role (device code sign-in)',
  passcode: 'the passcode, typed by the technician or passed as the Passcode variable',
};

/** The view of the settings (no secrets). */
export function securityView(v: { settings: SecuritySettings; revision: number; updatedAt: string }, now = new Date()): SecurityView {
  const s = v.settings;
  const ageSeconds = s.passcode ? Math.max(0, Math.floor((now.getTime() - Date.parse(s.passcode.changedAt)) / 1000)) : 0;
  const previous = s.previousPasscode && Date.parse(s.previousPasscode.validUntil) > now.getTime() ? s.previousPasscode.validUntil : null;
  return {
    revision: v.revision, updatedAt: v.updatedAt,
    methods: configuredMethods(s).map((m) => ({ method: m, needs: NEEDS[m] ?? '' })),
    passcode: s.passcode ? { changedAt: s.passcode.changedAt, ageSeconds, generation: s.passcode.generation, reminderDue: s.remindAfterSeconds > 0 && ageSeconds > s.remindAfterSeconds } : null,
    previousPasscodeValidUntil: previous,
    rotationOverlapSeconds: s.rotationOverlapSeconds, remindAfterSeconds: s.remindAfterSeconds, bypass: s.bypass,
    entra: s.entra ? { tenantId: s.entra.tenantId, clientId: s.entra.clientId, role: s.entra.role, authority: s.entra.authority } : null,
    certificate: s.certificate ? {
      subjectPattern: s.certificate.subjectPattern ?? null, sanPattern: s.certificate.sanPattern ?? null,
      crlPath: s.certificate.crlPath ?? null, requireClientAuthEku: s.certificate.requireClientAuthEku,
      caCertificates: caSummary(s.certificate.caPem),
    } : null,
  };
}

/** Subject, expiry and fingerprint of each certificate in a CA bundle (one that does not parse is left out). */
function caSummary(caPem: string): { subject: string; notAfter: string; sha256: string }[] {
  const blocks = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      const cert = new X509Certificate(block);
      return [{ subject: cert.subject.split('\n').join(', '), notAfter: new Date(cert.validTo).toISOString(), sha256: cert.fingerprint256 }];
    } catch { return []; }
  });
}

const SetPasscodeSchema = Type.Object({
  passcode: Type.String({ minLength: 1, maxLength: 1024 }),
  verify: Type.String({ minLength: 1, maxLength: 1024, description: 'the passcode typed a second time' }),
  overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 90 * 86400, description: 'the old passcode keeps working this long' })),
}, { additionalProperties: false });
const BypassSchema = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });
const RotationSchema = Type.Object({
  overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 90 * 86400 })),
  remindAfterSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 * 86400 })),
}, { additionalProperties: false });
const EntraSchema = Type.Object({
  tenantId: Type.String({ maxLength: 128 }), clientId: Type.String({ maxLength: 128 }), role: Type.String({ maxLength: 128 }),
  authority: Type.Optional(Type.String({ maxLength: 512 })),
}, { additionalProperties: false });

const CertificateSchema = Type.Object({
  caPem: Type.String({ minLength: 1, maxLength: 1024 * 1024, description: 'PEM bundle of the CAs whose client certificates are trusted (every one a CA)' }),
  subjectPattern: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'glob on the subject CN, e.g. *.contoso.com' })),
  sanPattern: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'glob on a DNS/URI/email SAN' })),
  crlPath: Type.Optional(Type.String({ minLength: 2, maxLength: 4096, description: 'absolute path of a CRL file on the server, reloaded without a restart' })),
  requireClientAuthEku: Type.Optional(Type.Boolean({ description: 'require the clientAuth EKU (default true)' })),
}, { additionalProperties: false });

/** Registers the security routes. */
export function registerSecurityRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const tags = ['admin: security'];
  const save = async (changes: SecurityChange[], actor: { subject: string; source: string }): Promise<SecurityView> => {
    const result = await deps.security.apply(changes, actor);
    return { ...securityView(await deps.readSecurity()), warnings: result.warnings };
  };
  const changed = { 200: SecurityViewSchema };

  app.get('/v1/admin/security', { config: { adminRole: 'viewer' }, schema: { summary: 'Security settings (never a secret)', tags, response: changed } },
    async () => securityView(await deps.readSecurity()));

  app.put('/v1/admin/security/passcode', { config: { adminRole: 'admin' }, schema: { summary: 'Set or rotate the passcode (typed twice)', tags, body: SetPasscodeSchema, response: changed } }, async (req) => {
    const body = req.body as Static<typeof SetPasscodeSchema>;
    if (body.passcode !== body.verify) throw new DeployrError('INVALID_INPUT', 'The two passcodes do not match; nothing changed.');
    const changes: SecurityChange[] = [];
    if (body.overlapSeconds !== undefined) changes.push({ kind: 'rotation', overlapSeconds: body.overlapSeconds });
    changes.push({ kind: 'passcode', passcode: body.passcode });
    return save(changes, actorOf(req));
  });

  app.delete('/v1/admin/security/passcode', { config: { adminRole: 'admin' }, schema: { summary: 'Remove the passcode', tags, response: changed } },
    async (req) => save([{ kind: 'clear-passcode' }], actorOf(req)));

  app.put('/v1/admin/security/bypass', { config: { adminRole: 'admin' }, schema: { summary: 'Bypass (anonymous) authentication on or off', tags, body: BypassSchema, response: changed } },
    async (req) => save([{ kind: 'bypass', enabled: (req.body as Static<typeof BypassSchema>).enabled }], actorOf(req)));

  app.put('/v1/admin/security/rotation', { config: { adminRole: 'admin' }, schema: { summary: 'Rotation overlap and reminder', tags, body: RotationSchema, response: changed } }, async (req) => {
    const body = req.body as Static<typeof RotationSchema>;
    if (body.overlapSeconds === undefined && body.remindAfterSeconds === undefined) throw new DeployrError('INVALID_INPUT', 'Give overlapSeconds, remindAfterSeconds or both.');
    return save([{ kind: 'rotation', ...body }], actorOf(req));
  });

  app.put('/v1/admin/security/entra', { config: { adminRole: 'admin' }, schema: { summary: 'Entra ID settings', tags, body: EntraSchema, response: changed } },
    async (req) => save([{ kind: 'entra', entra: req.body as Static<typeof EntraSchema> }], actorOf(req)));

  app.post('/v1/admin/security/end-overlap', { config: { adminRole: 'admin' }, schema: { summary: 'End a running rotation overlap now: the previous passcode and its tokens stop', tags, response: changed } },
    async (req) => save([{ kind: 'end-overlap' }], actorOf(req)));

  app.put('/v1/admin/security/certificate', { config: { adminRole: 'admin' }, bodyLimit: 2 * 1024 * 1024, schema: { summary: 'Trust client certificates from a CA bundle (with optional subject/SAN rules and a CRL)', tags, body: CertificateSchema, response: changed } }, async (req) => {
    const body = req.body as Static<typeof CertificateSchema>;
    return save([{
      kind: 'certificate', certificate: {
        caPem: body.caPem, requireClientAuthEku: body.requireClientAuthEku !== false,
        ...(body.subjectPattern ? { subjectPattern: body.subjectPattern } : {}),
        ...(body.sanPattern ? { sanPattern: body.sanPattern } : {}),
        ...(body.crlPath ? { crlPath: body.crlPath } : {}),
      },
    }], actorOf(req));
  });

  app.delete('/v1/admin/security/certificate', { config: { adminRole: 'admin' }, schema: { summary: 'Remove client-certificate trust', tags, response: changed } },
    async (req) => save([{ kind: 'clear-certificate' }], actorOf(req)));

  app.delete('/v1/admin/security/entra', { config: { adminRole: 'admin' }, schema: { summary: 'Remove the Entra ID settings', tags, response: changed } },
    async (req) => save([{ kind: 'clear-entra' }], actorOf(req)));
}
