// Test PKI made inside the test: a root CA, an intermediate, an unrelated CA, leaves and CRLs (ECDSA P-256, @peculiar/x509).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto);

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** Which CA signs a certificate or a CRL. */
export type TestIssuer = 'root' | 'intermediate' | 'other';

/** A certificate authority of the test PKI, with its private key kept for signing. */
export interface TestCa {
  /** The CA certificate, PEM (ends with a newline, so PEMs concatenate into bundles). */
  readonly certPem: string;
  /** The CA private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /** The subject DN, for example `CN=deployr Test Root CA`. */
  readonly subject: string;
  /** Serial number, uppercase hex (as node's X509Certificate.serialNumber prints it). */
  readonly serialNumber: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly thumbprint: string;
  /** @internal the parsed certificate and keys, used to sign leaves and CRLs. */
  readonly cert: x509.X509Certificate;
  /** @internal */
  readonly keys: webcrypto.CryptoKeyPair;
}

/** A certificate issued by the test PKI, PEM strings plus the identifiers tests compare. */
export interface IssuedCertificate {
  /** The leaf certificate alone, PEM (ends with a newline). */
  readonly certPem: string;
  /** The leaf private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /** The leaf followed by the intermediate when the intermediate issued it (what a TLS peer sends). */
  readonly chainPem: string;
  /** Serial number, uppercase hex (as node's X509Certificate.serialNumber prints it). */
  readonly serialNumber: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly thumbprint: string;
}

/** Options for a client (machine) certificate. */
export interface ClientCertificateOptions {
  /** Subject common name, for example `machine-042.contoso.test`. */
  cn: string;
  /** Subject alternative names (`dns`, `ip`, `url`, `email`, ...). */
  sans?: x509.JsonGeneralNames;
  /** Extended key usage: clientAuth (default), serverAuth only, or no EKU extension at all. */
  eku?: 'clientAuth' | 'serverAuth' | 'none';
  /** Default: one minute ago. */
  notBefore?: Date;
  /** Default: one day from now. */
  notAfter?: Date;
  /** Default: the root. */
  issuer?: TestIssuer;
}

/** The test PKI returned by createTestPki. */
export interface TestPki {
  /** Self-signed root CA. */
  readonly root: TestCa;
  /** Intermediate CA signed by the root (pathLen 0). */
  readonly intermediate: TestCa;
  /** An unrelated self-signed CA, for negative cases. */
  readonly otherCa: TestCa;
  /** A TLS server certificate (serverAuth EKU) for the given DNS names and IP addresses, issued by the root. */
  issueServer(options: { names: string[] }): Promise<IssuedCertificate>;
  /** A client certificate (clientAuth EKU unless told otherwise). */
  issueClient(options: ClientCertificateOptions): Promise<IssuedCertificate>;
  /** A CRL PEM (`BEGIN X509 CRL`) signed by `issuer` naming the given serial numbers (hex, any case); valid from a minute ago for a day. */
  crl(revokedSerials: string[], issuer: TestIssuer): Promise<string>;
}

/** A positive random serial number (16 bytes, top bit clear), uppercase hex. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex').toUpperCase();
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function keyToPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

function sha256Hex(cert: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');
}

function isIp(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}

async function makeCa(subject: string, signer: TestCa | null, pathLength: number | undefined): Promise<TestCa> {
  const keys = await newKeys();
  const serialNumber = randomSerial();
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 30 * DAY_MS);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const cert = signer
    ? await x509.X509CertificateGenerator.create({
        serialNumber, subject, issuer: signer.cert.subject, notBefore, notAfter,
        publicKey: keys.publicKey, signingKey: signer.keys.privateKey, signingAlgorithm: alg,
        extensions: [...extensions, await x509.AuthorityKeyIdentifierExtension.create(signer.cert)],
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber, name: subject, keys, notBefore, notAfter, signingAlgorithm: alg, extensions,
      });
  return {
    certPem: `${cert.toString('pem')}\n`, keyPem: await keyToPem(keys.privateKey), subject: cert.subject,
    serialNumber, thumbprint: sha256Hex(cert), cert, keys,
  };
}

async function issueLeaf(
  ca: TestCa,
  subject: string,
  eku: string[] | null,
  sans: x509.JsonGeneralNames | undefined,
  notBefore: Date,
  notAfter: Date,
  chainWith: TestCa | null,
): Promise<IssuedCertificate> {
  const keys = await newKeys();
  const serialNumber = randomSerial();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
  ];
  if (eku) extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  if (sans && sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber, subject, issuer: ca.cert.subject, notBefore, notAfter,
    publicKey: keys.publicKey, signingKey: ca.keys.privateKey, signingAlgorithm: alg, extensions,
  });
  const certPem = `${cert.toString('pem')}\n`;
  return {
    certPem,
    keyPem: await keyToPem(keys.privateKey),
    chainPem: chainWith ? certPem + chainWith.certPem : certPem,
    serialNumber,
    thumbprint: sha256Hex(cert),
  };
}

/** Makes a fresh test PKI (root, intermediate, unrelated CA) in a few milliseconds. */
export async function createTestPki(): Promise<TestPki> {
  const root = await makeCa('CN=deployr Test Root CA, O=deployr tests', null, 1);
  const intermediate = await makeCa('CN=deployr Test Issuing CA, O=deployr tests', root, 0);
  const otherCa = await makeCa('CN=Unrelated Test CA, O=elsewhere', null, 1);
  const cas: Record<TestIssuer, TestCa> = { root, intermediate, other: otherCa };

  return {
    root,
    intermediate,
    otherCa,
    async issueServer({ names }) {
      const sans: x509.JsonGeneralNames = names.map((n) => ({ type: isIp(n) ? 'ip' : 'dns', value: n }));
      return issueLeaf(root, `CN=${names[0] ?? 'localhost'}`, [x509.ExtendedKeyUsage.serverAuth], sans,
        new Date(Date.now() - 60_000), new Date(Date.now() + DAY_MS), null);
    },
    async issueClient(options) {
      const issuer = options.issuer ?? 'root';
      const eku = options.eku ?? 'clientAuth';
      const ekus = eku === 'none' ? null
        : [eku === 'clientAuth' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth];
      return issueLeaf(cas[issuer], `CN=${options.cn}`, ekus, options.sans,
        options.notBefore ?? new Date(Date.now() - 60_000), options.notAfter ?? new Date(Date.now() + DAY_MS),
        issuer === 'intermediate' ? intermediate : null);
    },
    async crl(revokedSerials, issuer) {
      const ca = cas[issuer];
      const crl = await x509.X509CrlGenerator.create({
        issuer: ca.cert.subject,
        thisUpdate: new Date(Date.now() - 60_000),
        nextUpdate: new Date(Date.now() + DAY_MS),
        signingKey: ca.keys.privateKey,
        signingAlgorithm: alg,
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.cert)],
        entries: revokedSerials.map((serialNumber) => ({
          serialNumber: serialNumber.toLowerCase(),
          revocationDate: new Date(Date.now() - 30_000),
          reason: x509.X509CrlReason.keyCompromise,
        })),
      });
      // @peculiar/x509 labels it `BEGIN CRL`; OpenSSL (node's `crl` option) only reads RFC 7468's `BEGIN X509 CRL`.
      return `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`;
    },
  };
}
