/**
 * The client side of SCRAM (RFC 5802) for tests that speak it by hand: the first message, then the
 * final one computed from the server's answer, and the server signature it must send back.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export type ScramHash = 'sha256' | 'sha512';

export class ScramClient {
  readonly #hash: ScramHash;
  readonly #user: string;
  readonly #password: string;
  readonly #nonce: string;
  #expected = '';

  constructor(hash: ScramHash, user: string, password: string, nonce = randomBytes(18).toString('base64')) {
    this.#hash = hash;
    this.#user = user;
    this.#password = password;
    this.#nonce = nonce;
  }

  get firstBare(): string {
    const name = this.#user.replaceAll('=', '=3D').replaceAll(',', '=2C');
    return `n=${name},r=${this.#nonce}`;
  }

  first(): string {
    return `n,,${this.firstBare}`;
  }

  /** client-final for `serverFirst`; `proofOf` lets a test send a wrong proof. */
  final(serverFirst: string, password = this.#password): string {
    const attrs = new Map(serverFirst.split(',').map((p) => [p[0]!, p.slice(2)] as const));
    const salted = pbkdf2Sync(
      Buffer.from(password, 'utf8'),
      Buffer.from(attrs.get('s')!, 'base64'),
      Number(attrs.get('i')),
      this.#hash === 'sha256' ? 32 : 64,
      this.#hash,
    );
    const hmac = (key: Uint8Array, data: string) => createHmac(this.#hash, key).update(data).digest();
    const withoutProof = `c=biws,r=${attrs.get('r')}`;
    const authMessage = `${this.firstBare},${serverFirst},${withoutProof}`;
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash(this.#hash).update(clientKey).digest();
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    this.#expected = `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`;
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** The server-final a server knowing the password answers. */
  get expectedServerFinal(): string {
    return this.#expected;
  }
}
