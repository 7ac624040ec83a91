// Real X.509 certificates for tests, made with the openssl CLI in a temporary directory: a CA,
// server certificates for 127.0.0.1 / localhost, and client certificates with a chosen CN.
// EC P-256 keys keep generation fast (a few milliseconds each).

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  /** Path of the PEM certificate. */
  cert: string;
  /** Path of the PEM private key. */
  key: string;
}

const validityDays = '2';

function openssl(args: string[], directory: string): void {
  execFileSync('openssl', args, { cwd: directory, stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestCertificates {
  readonly directory: string;
  /** The CA certificate (what clients pass as `ca` / `--cafile`). */
  readonly ca: string;
  private readonly caKey: string;
  private serial = 1;

  /** A fresh directory with a new CA named `caName`. */
  constructor(caName = 'Petrel Test CA') {
    this.directory = mkdtempSync(join(tmpdir(), 'petrel-certificates-'));
    this.ca = join(this.directory, 'ca.pem');
    this.caKey = join(this.directory, 'ca.key');
    openssl(
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', this.caKey, '-out', this.ca, '-days', validityDays, '-subj', `/CN=${caName}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ],
      this.directory,
    );
  }

  /** A server certificate valid for localhost and 127.0.0.1, signed by this CA. */
  server(fileName = 'server', commonName = 'localhost'): KeyPair {
    return this.issue(fileName, commonName, ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth']);
  }

  /** A client certificate whose subject CN is `commonName`, with optional SANs ("DNS:x", "email:y"). */
  client(commonName: string, fileName = `client-${commonName}`, subjectAltNames: string[] = []): KeyPair {
    const extensions = ['extendedKeyUsage=clientAuth'];
    if (subjectAltNames.length > 0) extensions.push(`subjectAltName=${subjectAltNames.join(',')}`);
    return this.issue(fileName, commonName, extensions);
  }

  remove(): void {
    rmSync(this.directory, { recursive: true, force: true });
  }

  private issue(fileName: string, commonName: string, extensions: string[]): KeyPair {
    const key = join(this.directory, `${fileName}.key`);
    const cert = join(this.directory, `${fileName}.pem`);
    const request = join(this.directory, `${fileName}.csr`);
    const extensionFile = join(this.directory, `${fileName}.ext`);
    writeFileSync(extensionFile, `${['basicConstraints=CA:FALSE', ...extensions].join('\n')}\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', request, '-subj', `/CN=${commonName}`], this.directory);
    openssl(
      ['x509', '-req', '-in', request, '-CA', this.ca, '-CAkey', this.caKey, '-set_serial', String(this.serial++), '-days', validityDays, '-out', cert, '-extfile', extensionFile],
      this.directory,
    );
    return { cert, key };
  }
}

/** SHA-256 fingerprint of a PEM certificate file, in Node's "AA:BB:..." form. */
export function certificateFingerprint(path: string): string {
  return new X509Certificate(readFileSync(path)).fingerprint256;
}
