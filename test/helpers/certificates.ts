/**
 * Test certificates, made with `openssl` at test time in a temporary directory (no key
 * material is ever committed): EC P-256 keys, quick to make, valid for two days.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its key, as files. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Runs openssl in `cwd`; its chatter is dropped, its errors kept for the exception. */
export function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A self-signed certificate `<base>.crt` with its key `<base>.key` in `directory`, for
 * `subject` (`/CN=…`), with each of `extensions` added (`subjectAltName=IP:127.0.0.1`).
 */
export function selfSignedCertificate(
  directory: string,
  base: string,
  subject: string,
  extensions: readonly string[] = [],
): CertificateFiles {
  const addext = extensions.flatMap((extension) => ['-addext', extension]);
  openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.crt`,
      '-days',
      '2',
      '-subj',
      subject,
      ...addext,
    ],
    directory,
  );
  return { certFile: join(directory, `${base}.crt`), keyFile: join(directory, `${base}.key`) };
}

/** A certificate authority `<name>.crt`/`<name>.key` in `directory`, whose subject is `/CN=<name>`. */
export function certificateAuthority(directory: string, name: string): CertificateFiles {
  return selfSignedCertificate(directory, name, `/CN=${name}`, [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/**
 * A certificate `<base>.crt`/`<base>.key` in `directory` for `subject`, signed by the CA
 * `<ca>.crt`/`<ca>.key` there, with the extension lines of `extensions` (an openssl
 * extfile: `subjectAltName=…\nextendedKeyUsage=serverAuth\n`), if any.
 */
export function issueCertificate(
  directory: string,
  ca: string,
  base: string,
  subject: string,
  extensions?: string,
): CertificateFiles {
  openssl(['req', ...EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject], directory);
  const extfile: string[] = [];
  if (extensions !== undefined) {
    writeFileSync(join(directory, `${base}.ext`), extensions);
    extfile.push('-extfile', `${base}.ext`);
  }
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${base}.crt`,
      '-days',
      '2',
      ...extfile,
    ],
    directory,
  );
  return { certFile: join(directory, `${base}.crt`), keyFile: join(directory, `${base}.key`) };
}
