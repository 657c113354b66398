//! `crypto.subtle`: each algorithm against published vectors (NIST, RFC 4231, 5869, 6070, 6979,
//! 8032) or values computed with Node 20's Web Crypto, JWTs signed by hand, key formats, the
//! DOMExceptions of the error paths, and what an absurd PBKDF2 iteration count does.

use serde_json::json;

use crate::support::Project;

/// Helpers every function below starts with.
const HELPERS: &str = "const s = crypto.subtle\n\
const te = new TextEncoder()\n\
const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('')\n\
const unhex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)))\n\
const b64url = (b: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(b instanceof ArrayBuffer ? b : b.buffer))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '')\n\
const unb64 = (t: string) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))\n";

/// A 2048-bit RSA key made by Node 20 (PKCS #8, base64), and its RS256 signature of "flux".
const RSA_PKCS8: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDHfRkB7WAIdq1KNHsm+Flykf7Uhx+/j9BseLwhOb5bmxdtXiEjyDOvsYCoJifNLZcCdO9Th3GEGJlXWHa2BIMlVpX7mQQXwiQoGGZ358f5urqp2/EcCZ3koyaMUi3cGAUVuKIadWrBuqpuinXzwxMbn0wnLQ5x6L4qnAQmUKHS8HJomm8bAnzVCTMYosRmX0NK1OESBX/dv3bsSiruhQRrBxCnKjZ4rsZANbEjkNWJVK8Djb2I8VgIAXneW/1ywO0meKH8cPZQ7e4u2DJEoIJsaVAGkMdjCqaYnbEx5zvRrFxLxYnsv8JkLKnJyuSYwtJqnffDfeIIjSxKhx70bxyPAgMBAAECggEAP7BxWPurwtf86GmL/fuhNyJkbP79BGBKZy8+xQ7V9xIzbw/z3aQv2EJ/9G9GGswY38hslkryU321Cz1rnR4grr2PoeWO+HTbrU9o+5Qs9M6IhO1683wghFwQVRFxocirau1pF7BwFozdl/Aty1b3FUUM/57zcyue9ySbcI4itCDOzvBDg8dc9jPahjnLC3B1aURIYMUvM5kMq3ThzhlD2Fm3/ND7lD+M7L+w6zxtIbWMGdrMRwCuZW8pFBgGWKCKmsptchPaR4z2Dl1W6SPf8J8IFVU8XD6d3SDBa0CgBqwKgt9GoW6RG5qaMMsIwtTMIijqO9C3jBN7fJ1A6yUF/QKBgQDpRK6aZj/g0YAY4+JveSVzxNjds/9MazoEYKBki1dXftaLMNi25VxWjrP4y3WxopuOo/S2faVQSTRdtCWVFq8dswO97HwX5JuNAoy1dn8Yg+VBchClt+bsHqijX2AS0TBjOQz1rzwTeuSX2pUAP4oDTKejCSB8g4Hpc19xh79sIwKBgQDa7bgVVMJnlGgpsEQt7kQI690AbJIoc2F6sBrJcLc0RwvUlfb0Q7BKCuBOo+9Cx+af8w/Yt/PN+FLWw7yT8fTVveswSvAiuGiabdbcFGrY9B8C5bNbd5TT7z2uP4qsoQaOnGYCxOeuBzr4BZkP/6qxe/nJ5nRVNPDWt9lDO1GOpQKBgDJEvcfCHyPooc07VrGlDsAa/I0SXALw3IjS9d2U9ZaCW+OU/C610KdKi1gjKFLGcvVTOcoV24korWNADhVJ1ST2TekgzEEt36OMmBwG1C7JRZ9L4HCF5/qcRMUoKYEEmYPYaIWNZMnh4t8imJd8GdbKLxoAPoL2qAlR9pB1q3e3AoGAPAJlLxOophO76ZFzXtOsunVMgs0/0u6tjZ+v9/95eE7xIzhoFNRpAiKxEV1GPBvnT3iko1bo8VBcBJpqmnL8FYqVaQthf2Lk6U+qUXEXSJjB1113KF9C4ET3t0ebj24kCfs8yw2GI+G/fDSsnAIMm9HLylftE14Llg+W8iLUXDECgYAxhyAKKObMY7cBYmNqk+8Xbhz8HWGgkZP9G2bq2uZ+3EVhw4lgEEdmEzuBPoRf8/fM8pcg0RdX90J5sTv6+cAiy5WNmdO+TV3JMLV5PJr3u1mUu8nuK/gZ/KgbQFm7IbhuX2NsuELdS6Ey7DSN5owlFc3PPybPDP/x+oSo1gYNrA==";
const RSA_SIGNATURE: &str = "J1D8aaagyn/iDDKuG89QmHGtfNE3l3gdVsc70OzjSijYcnuec7XYMP1vhFygWYIItdIT0cT54J7Oc49Lm9QlzBM6tsUHCMhMhSlrBNiTzHGpt0/3zEfFoo3nz7HmsVNQA9ClS4RCtQZnrHVJBE4iEwmGwARXrdQTzgbiyzS95i/6Ojey6PLvyo4uxSzFArB1/WgD9bQChSN2lLWVpTdzNUAy304gkNEdhFZFxW/kqpVjDJuxGu/k6GrttklXnYfkN5j5xsPwsMJvBEMoWsMjDb5YLbiNE02Uk6d0sidO2FxgrlzUxNfSW2Nlpy7M/XNPLk3mt5SC9NMWJX2mpwi2yw==";

const VECTORS: &str = r#"
export default async () => {
  const out: Record<string, unknown> = {}
  // FIPS 180 "abc".
  for (const h of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) out[h] = hex(await s.digest(h, te.encode('abc')))
  out.digestOfView = hex(await s.digest({ name: 'sha-256' }, new DataView(te.encode('xabcx').buffer, 1, 3)))
  // The bytes are read when the call has read its algorithm (whose getters run once), as the
  // web-platform-tests check: changed there, they count; changed after, they do not; a buffer
  // transferred away is empty.
  const during = te.encode('xbc')
  const after = te.encode('abc')
  const moved = te.encode('abc')
  out.readAtTheCall = [
    hex(await s.digest({ get name() { during[0] = 97; return 'SHA-1' } }, during)),
    hex(await (() => { const p = s.digest('SHA-1', after); after[0] = 120; return p })()),
    hex(await s.digest({ get name() { (moved.buffer as any).transfer(); return 'SHA-1' } }, moved)),
  ]
  // RFC 4231 test case 2.
  for (const h of ['SHA-256', 'SHA-512']) {
    const k = await s.importKey('raw', te.encode('Jefe'), { name: 'HMAC', hash: h }, false, ['sign', 'verify'])
    const mac = await s.sign('HMAC', k, te.encode('what do ya want for nothing?'))
    out[`HMAC-${h}`] = hex(mac)
    out[`HMAC-${h}-verifies`] = await s.verify('HMAC', k, mac, te.encode('what do ya want for nothing?'))
    out[`HMAC-${h}-rejects`] = await s.verify('HMAC', k, mac, te.encode('what do ya want for nothing!'))
  }
  // RFC 6070 (SHA-1) and Node 20 (SHA-256, SHA-512).
  const password = await s.importKey('raw', te.encode('password'), 'PBKDF2', false, ['deriveBits', 'deriveKey'])
  out['PBKDF2-SHA-1'] = hex(await s.deriveBits({ name: 'PBKDF2', salt: te.encode('salt'), iterations: 4096, hash: 'SHA-1' }, password, 160))
  out['PBKDF2-SHA-256'] = hex(await s.deriveBits({ name: 'PBKDF2', salt: te.encode('salt'), iterations: 4096, hash: 'SHA-256' }, password, 256))
  out['PBKDF2-SHA-512'] = hex(await s.deriveBits({ name: 'PBKDF2', salt: te.encode('salt'), iterations: 1000, hash: 'SHA-512' }, password, 512))
  const derived = await s.deriveKey({ name: 'PBKDF2', salt: te.encode('salt'), iterations: 1000, hash: 'SHA-256' }, password, { name: 'AES-GCM', length: 256 }, true, ['encrypt'])
  out.deriveKeyAes = [derived.algorithm, hex(await s.exportKey('raw', derived))]
  // RFC 5869 test case 1, and deriveKey of an HMAC key (its length the hash's block size).
  const ikm = await s.importKey('raw', unhex('0b'.repeat(22)), 'HKDF', false, ['deriveBits'])
  out.HKDF = hex(await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: unhex('000102030405060708090a0b0c'), info: unhex('f0f1f2f3f4f5f6f7f8f9') }, ikm, 336))
  const input = await s.importKey('raw', te.encode('input key'), 'HKDF', false, ['deriveKey'])
  const hmacKey = await s.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: te.encode('salt'), info: te.encode('info') }, input, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign'])
  out.deriveKeyHmac = [hmacKey.algorithm.length, hex(await s.exportKey('raw', hmacKey))]
  // The GCM specification's test case 2, then Node 20's values: additional data, a 96-bit
  // tag, a 16-byte IV, a 192-bit key.
  const zero = await s.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt'])
  out.gcmSpec = hex(await s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, zero, new Uint8Array(16)))
  const key = Uint8Array.from({ length: 32 }, (_, i) => i)
  const iv = Uint8Array.from({ length: 12 }, (_, i) => i)
  const aes = await s.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
  const sealed = await s.encrypt({ name: 'AES-GCM', iv, additionalData: te.encode('header') }, aes, te.encode('attack at dawn'))
  out.gcm128 = hex(sealed)
  out.gcm96 = hex(await s.encrypt({ name: 'AES-GCM', iv, additionalData: te.encode('header'), tagLength: 96 }, aes, te.encode('attack at dawn')))
  out.gcmOpened = new TextDecoder().decode(await s.decrypt({ name: 'AES-GCM', iv, additionalData: te.encode('header') }, aes, sealed))
  // Short tags (the full tag cut): sealed, opened, and refused once a bit of the tag changes.
  out.gcmShortTags = []
  for (const tagLength of [32, 64, 104]) {
    const params = { name: 'AES-GCM', iv, additionalData: te.encode('header'), tagLength }
    const short = new Uint8Array(await s.encrypt(params, aes, te.encode('attack at dawn')))
    const opened = new TextDecoder().decode(await s.decrypt(params, aes, short))
    short[short.length - 1] ^= 1
    const tampered = await s.decrypt(params, aes, short).then(() => 'opened', (e) => e.name)
    ;(out.gcmShortTags as unknown[]).push([tagLength, hex(short.map((b, i) => (i === short.length - 1 ? b ^ 1 : b))), opened, tampered])
  }
  const aes128 = await s.importKey('raw', key.slice(0, 16), 'AES-GCM', false, ['encrypt'])
  out.gcmIv16 = hex(await s.encrypt({ name: 'AES-GCM', iv: key.slice(0, 16) }, aes128, te.encode('attack at dawn')))
  const aes192 = await s.importKey('raw', key.slice(0, 24), 'AES-GCM', false, ['encrypt'])
  out.gcmAes192 = hex(await s.encrypt({ name: 'AES-GCM', iv }, aes192, te.encode('attack at dawn')))
  // RFC 8032 test 1 (an empty message), the key imported as a JWK.
  const ed = await s.importKey('jwk', { kty: 'OKP', crv: 'Ed25519',
    d: b64url(unhex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')),
    x: b64url(unhex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')) }, 'Ed25519', false, ['sign'])
  out.Ed25519 = hex(await s.sign('Ed25519', ed, new Uint8Array(0)))
  const edPublic = await s.importKey('raw', unhex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'), 'Ed25519', true, ['verify'])
  out.Ed25519Verifies = await s.verify('Ed25519', edPublic, unhex(out.Ed25519 as string), new Uint8Array(0))
  // RFC 6979 A.2.5: P-256, SHA-256, "sample" (flux signs deterministically), in IEEE P1363 form.
  const ec = await s.importKey('jwk', { kty: 'EC', crv: 'P-256',
    d: b64url(unhex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721')),
    x: b64url(unhex('60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6')),
    y: b64url(unhex('7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299')) },
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  out.ECDSA = hex(await s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec, te.encode('sample')))
  // Node's RS256 signature with Node's key: PKCS #1 v1.5 is deterministic.
  const rsa = await s.importKey('pkcs8', unb64(RSA_PKCS8), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])
  out.rsaAlgorithm = rsa.algorithm
  out.RSA = b64url(await s.sign('RSASSA-PKCS1-v1_5', rsa, te.encode('flux'))) === b64url(unb64(RSA_SIGNATURE))
  return out
}
"#;

#[test]
fn every_algorithm_matches_published_and_node_vectors() {
    let source = format!(
        "{HELPERS}const RSA_PKCS8 = '{RSA_PKCS8}'\nconst RSA_SIGNATURE = '{RSA_SIGNATURE}'\n{VECTORS}"
    );
    let project = Project::with_files(&[("functions/vectors.ts", &source)]);
    let server = project.start();
    let reply = server.get("/vectors");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({
            "SHA-1": "a9993e364706816aba3e25717850c26c9cd0d89d",
            "SHA-256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "SHA-384": "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            "SHA-512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "digestOfView": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "readAtTheCall": [
                "a9993e364706816aba3e25717850c26c9cd0d89d",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ],
            "HMAC-SHA-256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "HMAC-SHA-256-verifies": true,
            "HMAC-SHA-256-rejects": false,
            "HMAC-SHA-512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            "HMAC-SHA-512-verifies": true,
            "HMAC-SHA-512-rejects": false,
            "PBKDF2-SHA-1": "4b007901b765489abead49d926f721d065a429c1",
            "PBKDF2-SHA-256": "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
            "PBKDF2-SHA-512": "afe6c5530785b6cc6b1c6453384731bd5ee432ee549fd42fb6695779ad8a1c5bf59de69c48f774efc4007d5298f9033c0241d5ab69305e7b64eceeb8d834cfec",
            "deriveKeyAes": [{"name": "AES-GCM", "length": 256}, "632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3"],
            "HKDF": "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            "deriveKeyHmac": [512, "a55ecbb7581875a5a23aaee7f492ec48b4fccd92d1daa4cfd826c9a4e3c5101cc52f85ccde2f292086dcf91a577312e7b0381f467a9860b7197a3f48db9a6016"],
            "gcmSpec": "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
            "gcm128": "2676a27aa68ee27af961f3eac68778dfa844b858372d1284003a558b797c",
            "gcm96": "2676a27aa68ee27af961f3eac68778dfa844b858372d1284003a",
            "gcmOpened": "attack at dawn",
            "gcmShortTags": [
                [32, "2676a27aa68ee27af961f3eac68778dfa844", "attack at dawn", "OperationError"],
                [64, "2676a27aa68ee27af961f3eac68778dfa844b858372d", "attack at dawn", "OperationError"],
                [104, "2676a27aa68ee27af961f3eac68778dfa844b858372d1284003a55", "attack at dawn", "OperationError"],
            ],
            "gcmIv16": "cbdce7fffae9e9a28598730ff3113dabb79600d64818f6cf9449cbb9109f",
            "gcmAes192": "878d56fafad2e96fa413b8e388c76795a30c30f4fe4a7e166bbb4e5c4ca5",
            "Ed25519": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            "Ed25519Verifies": true,
            "ECDSA": "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
            "rsaAlgorithm": {"name": "RSASSA-PKCS1-v1_5", "modulusLength": 2048, "publicExponent": {"0": 1, "1": 0, "2": 1}, "hash": {"name": "SHA-256"}},
            "RSA": true,
        })
    );
}

/// An ES256 JWT made by Node 20's Web Crypto, and its public key.
const NODE_ES256_JWT: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmbHV4IiwiaWF0IjoxNzAwMDAwMDAwfQ.jxq7J-f4gqDaDzGWoSAExmZm4RLpoyGHgbFmxvLi8bFWZRN1L_BID49O-kPTcuzXn8PaORhPuixa1QWnIoTpIg";
const NODE_ES256_KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"tc3bG4Ez3WXgvJtlQayp2wJ3OvCozLA_pXv7RDyvUgk","y":"GPgNkZPQx1syCF2Euhk6yInPezwsI4YtOtwo-ffSSNs"}"#;

const JWT: &str = r#"
const encode = (value: unknown) => b64url(te.encode(JSON.stringify(value)))
const signed = async (alg: string, key: CryptoKey, params: AlgorithmIdentifier | EcdsaParams, claims: unknown) => {
  const input = `${encode({ alg, typ: 'JWT' })}.${encode(claims)}`
  return `${input}.${b64url(await s.sign(params, key, te.encode(input)))}`
}
const verified = async (token: string, key: CryptoKey, params: AlgorithmIdentifier | EcdsaParams) => {
  const [header, payload, signature] = token.split('.')
  return s.verify(params, key, unb64(signature), te.encode(`${header}.${payload}`))
}
export default async () => {
  const claims = { sub: '1234567890', name: 'John Doe', iat: 1516239022 }
  // HS256: the example token of RFC 7519's debugger (jwt.io), whose secret is this text.
  const secret = await s.importKey('raw', te.encode('your-256-bit-secret'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  const hs = await signed('HS256', secret, 'HMAC', claims)
  const forged = hs.replace(encode(claims), encode({ ...claims, name: 'Mallory' }))
  // ES256: a fresh key pair; its public half leaves as a JWK and comes back.
  const ecdsa = { name: 'ECDSA', hash: 'SHA-256' }
  const pair = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const es = await signed('ES256', pair.privateKey, ecdsa, claims)
  const published = await s.exportKey('jwk', pair.publicKey)
  const reimported = await s.importKey('jwk', published, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])
  const nodeKey = await s.importKey('jwk', JSON.parse(NODE_ES256_KEY), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
  return {
    hs256: hs,
    hs256Verifies: await verified(hs, secret, 'HMAC'),
    hs256ForgedVerifies: await verified(forged, secret, 'HMAC'),
    es256SignatureBytes: unb64(es.split('.')[2]).length,
    es256Verifies: await verified(es, reimported, ecdsa),
    es256ForgedVerifies: await verified(es.replace(encode(claims), encode({ ...claims, name: 'Mallory' })), reimported, ecdsa),
    es256ShortSignatureVerifies: await verified(es.slice(0, -4), reimported, ecdsa),
    publishedMembers: Object.keys(published).sort(),
    nodeEs256Verifies: await verified(NODE_ES256_JWT, nodeKey, ecdsa),
  }
}
"#;

#[test]
fn jwts_signed_by_hand_with_hs256_and_es256_verify_and_forgeries_do_not() {
    let source = format!(
        "{HELPERS}const NODE_ES256_JWT = '{NODE_ES256_JWT}'\nconst NODE_ES256_KEY = '{NODE_ES256_KEY}'\n{JWT}"
    );
    let project = Project::with_files(&[("functions/jwt.ts", &source)]);
    let server = project.start();
    let reply = server.get("/jwt");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({
            "hs256": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "hs256Verifies": true,
            "hs256ForgedVerifies": false,
            "es256SignatureBytes": 64,
            "es256Verifies": true,
            "es256ForgedVerifies": false,
            "es256ShortSignatureVerifies": false,
            "publishedMembers": ["crv", "ext", "key_ops", "kty", "x", "y"],
            "nodeEs256Verifies": true,
        })
    );
}

const FORMATS: &str = r#"
export default async () => {
  const out: Record<string, unknown> = {}
  const same = (a: ArrayBuffer, b: ArrayBuffer) => hex(a) === hex(b)
  const jwkRoundTrip = async (key: CryptoKey, algorithm: any, usages: KeyUsage[]) => {
    const jwk = await s.exportKey('jwk', key)
    const again = await s.importKey('jwk', jwk, algorithm, true, usages)
    return JSON.stringify(await s.exportKey('jwk', again)) === JSON.stringify(jwk)
  }
  const hmac = await s.generateKey({ name: 'HMAC', hash: 'SHA-384' }, true, ['sign'])
  out.hmac = [hmac.type, hmac.algorithm, hmac.usages, (await s.exportKey('jwk', hmac)).alg, await jwkRoundTrip(hmac, { name: 'HMAC', hash: 'SHA-384' }, ['sign'])]
  const aes = await s.generateKey({ name: 'AES-GCM', length: 128 }, true, ['encrypt', 'decrypt'])
  out.aes = [aes.algorithm, (await s.exportKey('jwk', aes)).alg, (await s.exportKey('raw', aes)).byteLength, await jwkRoundTrip(aes, 'AES-GCM', ['encrypt', 'decrypt'])]
  for (const [name, algorithm] of [['ECDSA', { name: 'ECDSA', namedCurve: 'P-256' }], ['Ed25519', { name: 'Ed25519' }]] as const) {
    const pair = await s.generateKey(algorithm, true, ['sign', 'verify']) as CryptoKeyPair
    const spki = await s.exportKey('spki', pair.publicKey)
    const pkcs8 = await s.exportKey('pkcs8', pair.privateKey)
    const raw = await s.exportKey('raw', pair.publicKey)
    const fromSpki = await s.importKey('spki', spki, algorithm, true, ['verify'])
    const fromRaw = await s.importKey('raw', raw, algorithm, true, ['verify'])
    const fromPkcs8 = await s.importKey('pkcs8', pkcs8, algorithm, true, ['sign'])
    const params = name === 'ECDSA' ? { name, hash: 'SHA-256' } : name
    const signature = await s.sign(params, fromPkcs8, te.encode('data'))
    out[name] = {
      types: [pair.publicKey.type, pair.privateKey.type],
      usages: [pair.publicKey.usages, pair.privateKey.usages],
      extractable: [pair.publicKey.extractable, pair.privateKey.extractable],
      algorithm: pair.privateKey.algorithm,
      rawBytes: raw.byteLength,
      spki: same(spki, await s.exportKey('spki', fromSpki)) && same(spki, await s.exportKey('spki', fromRaw)),
      pkcs8: same(pkcs8, await s.exportKey('pkcs8', fromPkcs8)),
      pkcs8Bytes: pkcs8.byteLength,
      jwkPrivate: await jwkRoundTrip(pair.privateKey, algorithm, ['sign']),
      jwkPublic: await jwkRoundTrip(pair.publicKey, algorithm, ['verify']),
      crossVerifies: await s.verify(params, fromSpki, signature, te.encode('data')),
    }
  }
  const rsaAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }
  const rsa = await s.generateKey({ ...rsaAlgorithm, modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['sign', 'verify']) as CryptoKeyPair
  const rsaJwk = await s.exportKey('jwk', rsa.privateKey)
  const rsaBack = await s.importKey('jwk', rsaJwk, rsaAlgorithm, true, ['sign'])
  const rsaSpki = await s.importKey('spki', await s.exportKey('spki', rsa.publicKey), rsaAlgorithm, true, ['verify'])
  out.rsa = {
    algorithm: rsa.publicKey.algorithm,
    jwk: [rsaJwk.alg, Object.keys(rsaJwk).sort()],
    pkcs8: same(await s.exportKey('pkcs8', rsa.privateKey), await s.exportKey('pkcs8', rsaBack)),
    crossVerifies: await s.verify('RSASSA-PKCS1-v1_5', rsaSpki, await s.sign('RSASSA-PKCS1-v1_5', rsaBack, te.encode('data')), te.encode('data')),
  }
  // wrapKey/unwrapKey with AES-GCM: an HMAC key sealed as a JWK and opened again.
  const wrapper = await s.generateKey({ name: 'AES-GCM', length: 256 }, false, ['wrapKey', 'unwrapKey'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const wrapped = await s.wrapKey('jwk', hmac, wrapper, { name: 'AES-GCM', iv })
  const unwrapped = await s.unwrapKey('jwk', wrapped, wrapper, { name: 'AES-GCM', iv }, { name: 'HMAC', hash: 'SHA-384' }, true, ['sign'])
  out.wrapped = same(await s.exportKey('raw', unwrapped), await s.exportKey('raw', hmac))
  out.classes = [hmac instanceof CryptoKey, s instanceof SubtleCrypto, Object.prototype.toString.call(hmac)]
  // Each method's name and its required arguments, as WebIDL gives them (and Node 20 has).
  out.methods = Object.keys(SubtleCrypto.prototype).map((name) => `${name}/${(s as any)[name].length}`).sort()
  return out
}
"#;

#[test]
fn keys_round_trip_through_raw_jwk_spki_and_pkcs8() {
    let source = format!("{HELPERS}{FORMATS}");
    let project = Project::with_files(&[("functions/formats.ts", &source)]);
    let server = project.start();
    let reply = server.get("/formats");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let pair = |algorithm: serde_json::Value, raw: u64, pkcs8: u64| {
        json!({
            "types": ["public", "private"],
            "usages": [["verify"], ["sign"]],
            "extractable": [true, true],
            "algorithm": algorithm,
            "rawBytes": raw,
            "spki": true,
            "pkcs8": true,
            "pkcs8Bytes": pkcs8,
            "jwkPrivate": true,
            "jwkPublic": true,
            "crossVerifies": true,
        })
    };
    assert_eq!(
        reply.json(),
        json!({
            "hmac": ["secret", {"name": "HMAC", "hash": {"name": "SHA-384"}, "length": 1024}, ["sign"], "HS384", true],
            "aes": [{"name": "AES-GCM", "length": 128}, "A128GCM", 16, true],
            // The sizes Node 20 and browsers export: an Ed25519 private key is PKCS #8 v1
            // (RFC 8410), its 32-byte secret alone.
            "ECDSA": pair(json!({"name": "ECDSA", "namedCurve": "P-256"}), 65, 138),
            "Ed25519": pair(json!({"name": "Ed25519"}), 32, 48),
            "rsa": {
                "algorithm": {"name": "RSASSA-PKCS1-v1_5", "modulusLength": 1024, "publicExponent": {"0": 1, "1": 0, "2": 1}, "hash": {"name": "SHA-384"}},
                "jwk": ["RS384", ["alg", "d", "dp", "dq", "e", "ext", "key_ops", "kty", "n", "p", "q", "qi"]],
                "pkcs8": true,
                "crossVerifies": true,
            },
            "wrapped": true,
            "classes": [true, true, "[object CryptoKey]"],
            "methods": ["decrypt/3", "deriveBits/2", "deriveKey/5", "digest/2", "encrypt/3", "exportKey/2", "generateKey/3", "importKey/5", "sign/3", "unwrapKey/7", "verify/4", "wrapKey/4"],
        })
    );
}

/// Every failure rejects the promise with the exception Web Crypto names (the same names Node 20
/// gives; its messages differ), and says what flux supports where it falls short.
const ERRORS: &str = r#"const s = crypto.subtle
const te = new TextEncoder()
const run = async () => {
  const hmac = await s.importKey('raw', te.encode('secret'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const aes = await s.importKey('raw', new Uint8Array(16), 'AES-GCM', true, ['encrypt'])
  const pbkdf2 = await s.importKey('raw', te.encode('pw'), 'PBKDF2', false, ['deriveBits'])
  const hkdf = await s.importKey('raw', te.encode('pw'), 'HKDF', false, ['deriveBits'])
  const ec = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const cases = {
    unknownDigest: () => s.digest('MD5', new Uint8Array(1)),
    digestOfString: () => s.digest('SHA-256', 'abc'),
    digestNoArgs: () => s.digest('SHA-256'),
    notImplemented: () => s.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['encrypt', 'decrypt']),
    otherCurve: () => s.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign']),
    evenExponent: () => s.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 0]), hash: 'SHA-256' }, true, ['sign']),
    evenExponentNoUsages: () => s.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 0]), hash: 'SHA-256' }, true, []),
    pairNoPrivateUsages: () => s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
    hashMissing: () => s.importKey('raw', new Uint8Array(16), { name: 'HMAC' }, true, ['sign']),
    badUsage: () => s.importKey('raw', new Uint8Array(16), { name: 'HMAC', hash: 'SHA-256' }, true, ['encrypt']),
    noUsages: () => s.importKey('raw', new Uint8Array(16), { name: 'HMAC', hash: 'SHA-256' }, true, []),
    emptyHmacKey: () => s.importKey('raw', new Uint8Array(0), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']),
    aesKeyLength: () => s.importKey('raw', new Uint8Array(10), 'AES-GCM', true, ['encrypt']),
    extractablePbkdf2: () => s.importKey('raw', new Uint8Array(16), 'PBKDF2', true, ['deriveBits']),
    badSpki: () => s.importKey('spki', new Uint8Array(16), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
    badFormat: () => s.importKey('pem', new Uint8Array(16), 'AES-GCM', true, ['encrypt']),
    jwkKty: () => s.importKey('jwk', { kty: 'EC', k: 'AAAA' }, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']),
    jwkAlg: () => s.importKey('jwk', { kty: 'oct', k: 'AAAA', alg: 'HS512' }, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']),
    jwkExt: () => s.importKey('jwk', { kty: 'oct', k: 'AAAA', ext: false }, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']),
    jwkKeyOps: () => s.importKey('jwk', { kty: 'oct', k: 'AAAA', key_ops: ['verify'] }, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']),
    jwkPointOffCurve: () => s.importKey('jwk', { kty: 'EC', crv: 'P-256', x: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', y: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
    notExtractable: () => s.exportKey('raw', hmac),
    rawPrivateEc: () => s.exportKey('raw', ec.privateKey),
    missingUsage: () => s.verify('HMAC', hmac, new Uint8Array(32), new Uint8Array(1)),
    wrongAlgorithm: () => s.sign('HMAC', aes, new Uint8Array(1)),
    publicKeySigns: () => s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, new Uint8Array(1)),
    ecdsaHashMissing: () => s.sign({ name: 'ECDSA' }, ec.privateKey, new Uint8Array(1)),
    notAKey: () => s.sign('HMAC', { type: 'secret' }, new Uint8Array(1)),
    emptyIv: () => s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(0) }, aes, new Uint8Array(1)),
    badTagLength: () => s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 33 }, aes, new Uint8Array(1)),
    ivMissing: () => s.encrypt({ name: 'AES-GCM' }, aes, new Uint8Array(1)),
    decryptTampered: async () => {
      const k = await s.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt', 'decrypt'])
      const sealed = new Uint8Array(await s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, te.encode('secret')))
      sealed[0] ^= 1
      return s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, sealed)
    },
    decryptTooShort: async () => {
      const k = await s.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['decrypt'])
      return s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, new Uint8Array(3))
    },
    lengthNull: () => s.deriveBits({ name: 'PBKDF2', salt: new Uint8Array(4), iterations: 1, hash: 'SHA-256' }, pbkdf2, null),
    lengthNotBytes: () => s.deriveBits({ name: 'PBKDF2', salt: new Uint8Array(4), iterations: 1, hash: 'SHA-256' }, pbkdf2, 7),
    zeroIterations: () => s.deriveBits({ name: 'PBKDF2', salt: new Uint8Array(4), iterations: 0, hash: 'SHA-256' }, pbkdf2, 256),
    hkdfTooLong: () => s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new Uint8Array(0) }, hkdf, 256 * 8 * 255),
    illegalConstructor: async () => new CryptoKey(),
    illegalInvocation: () => SubtleCrypto.prototype.digest.call({}, 'SHA-256', new Uint8Array(1)),
  }
  const out = []
  for (const [label, run] of Object.entries(cases)) {
    try {
      const p = run()
      if (!(p instanceof Promise)) { out.push(`${label}: not a promise`); continue }
      await p
      out.push(`${label}: resolved`)
    } catch (e) {
      out.push(`${label}: ${e.name}: ${e.message}`)
    }
  }
  return out
}
export default run"#;

#[test]
fn failures_reject_with_the_dom_exceptions_web_crypto_names() {
    let project = Project::with_files(&[("functions/errors.ts", ERRORS)]);
    let server = project.start();
    let reply = server.get("/errors");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines: Vec<String> = serde_json::from_value(reply.json()).expect("a list of lines");
    insta::assert_snapshot!(lines.join("\n"), @r#"
    unknownDigest: NotSupportedError: Unrecognized algorithm name: MD5 (crypto.subtle.digest supports SHA-1, SHA-256, SHA-384, SHA-512)
    digestOfString: TypeError: digest's data is not an ArrayBuffer, TypedArray or DataView
    digestNoArgs: TypeError: Failed to execute 'digest' on 'SubtleCrypto': 2 arguments required, but only 1 present.
    notImplemented: NotSupportedError: crypto.subtle.generateKey: flux does not support RSA-OAEP here (it supports HMAC, ECDSA, RSASSA-PKCS1-v1_5, Ed25519, AES-GCM)
    otherCurve: NotSupportedError: flux supports ECDSA on P-256 only, not P-384
    evenExponent: OperationError: RSA key generation failed: publicExponent must be odd (65537 is usual)
    evenExponentNoUsages: OperationError: RSA key generation failed: publicExponent must be odd (65537 is usual)
    pairNoPrivateUsages: SyntaxError: Usages cannot be empty when creating a key.
    hashMissing: TypeError: Failed to normalize algorithm: 'hash' is required in 'HmacKeyParams'
    badUsage: SyntaxError: Unsupported key usage for an HMAC key: encrypt (it allows sign, verify)
    noUsages: SyntaxError: Usages cannot be empty when importing a secret key.
    emptyHmacKey: DataError: Zero-length key is not supported
    aesKeyLength: DataError: an AES key is 128, 192 or 256 bits, not 80
    extractablePbkdf2: SyntaxError: PBKDF2 keys are not extractable
    badSpki: DataError: not a P-256 SPKI public key: ASN.1 error: unknown/unsupported ASN.1 DER tag: 0x00
    badFormat: TypeError: 'pem' is not a valid key format (raw, spki, pkcs8 or jwk)
    jwkKty: DataError: Invalid JWK "kty" Parameter: an HMAC key has "oct"
    jwkAlg: DataError: JWK "alg" HS512 does not match the requested algorithm (HS256)
    jwkExt: DataError: JWK "ext" Parameter and extractable mismatch
    jwkKeyOps: DataError: Key operations and usage mismatch: "key_ops" lacks sign
    jwkPointOffCurve: DataError: the JWK's point is not on P-256
    notExtractable: InvalidAccessError: key is not extractable
    rawPrivateEc: InvalidAccessError: Unable to export a raw ECDSA private key
    missingUsage: InvalidAccessError: Unable to use this key to verify (its usages: sign)
    wrongAlgorithm: InvalidAccessError: the key is an AES-GCM key, not HMAC
    publicKeySigns: InvalidAccessError: Unable to use this key to sign (its usages: verify)
    ecdsaHashMissing: TypeError: Failed to normalize algorithm: 'hash' is required in 'EcdsaParams'
    notAKey: TypeError: key is not a CryptoKey
    emptyIv: OperationError: the AES-GCM iv cannot be empty
    badTagLength: OperationError: 33 is not a valid AES-GCM tag length
    ivMissing: TypeError: Failed to normalize algorithm: 'iv' is required in 'AesGcmParams'
    decryptTampered: OperationError: the data could not be decrypted: wrong key, IV, additional data or tag, or the data was changed
    decryptTooShort: OperationError: The provided data is too small.
    lengthNull: OperationError: length cannot be null
    lengthNotBytes: OperationError: length must be a multiple of 8
    zeroIterations: OperationError: iterations cannot be zero
    hkdfTooLong: OperationError: HKDF cannot derive that many bits with this hash (at most 255 times its output)
    illegalConstructor: TypeError: Illegal constructor
    illegalInvocation: TypeError: Illegal invocation
    "#);
}

/// AES-GCM takes an IV of any length, as Web Crypto allows (flux used to take 12 and 16 bytes
/// only): the ciphertexts and tags are Node 20's, byte for byte, and open again; a changed tag
/// does not.
#[test]
fn aes_gcm_takes_an_iv_of_any_length_as_node_does() {
    let source = format!(
        "{HELPERS}export default async () => {{\n\
           const out = {{}}\n\
           for (const [bits, ivBytes, tagLength] of [[128, 13, 128], [192, 32, 128], [256, 60, 32], [128, 64, 128], [128, 100, 128]]) {{\n\
             const key = await s.importKey('raw', Uint8Array.from({{ length: bits / 8 }}, (_, i) => i), 'AES-GCM', false, ['encrypt', 'decrypt'])\n\
             const params = {{ name: 'AES-GCM', iv: Uint8Array.from({{ length: ivBytes }}, (_, i) => 255 - i), additionalData: te.encode('header'), tagLength }}\n\
             const sealed = await s.encrypt(params, key, te.encode('a message of some forty-odd bytes, or so'))\n\
             const opened = new TextDecoder().decode(await s.decrypt(params, key, sealed))\n\
             const changed = new Uint8Array(sealed.slice(0))\n\
             changed[changed.length - 1] ^= 1\n\
             const refused = await s.decrypt(params, key, changed).then(() => 'opened', (e) => e.name)\n\
             out[`${{bits}}/${{ivBytes}}/${{tagLength}}`] = [hex(sealed), opened, refused]\n\
           }}\n\
           return out\n\
         }}"
    );
    let project = Project::with_files(&[("functions/gcm.ts", &source)]);
    let server = project.start();
    let reply = server.get("/gcm");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let message = "a message of some forty-odd bytes, or so";
    // Made by Node 20's crypto.subtle.encrypt with the same keys, IVs, data and tag lengths.
    let node = [
        ("128/13/128", "0c44f063db6b5d47a33223da68b105ceb34e10bb92a12713c40905a7e02a8f686c3f2de67d0cf9f9b456f4e049ae9762a0e63f2cf2b00b9e"),
        ("192/32/128", "2f554ad07cbb98693c2d26c3f4616c4be91e3f295d616f9501ae21b51a96a5df47ce3a260ed7c362b110ec258d05b6e5ecef01f54e338ec9"),
        ("256/60/32", "0609fe849a9a80ba71f6905c2aae05661d8fb0b0c933f6e6f35e78e47cf6fbca33dd01f7bfa3a88f3ef9e9fd"),
        ("128/64/128", "2b7e670b0b0e1f36e7ca56531971f2d36fe5bda20e597dbc0a0bd52e70dca2fbc8f02cd0900004964d63cbd384d0b2ee11f1ab0a67c488ae"),
        ("128/100/128", "1d3aa40675907507a6b5da40666ce1a3adf6316c40ccd554e07287cd1922b42a1ecf8349acb733d36ee186d0f31784defb76418e82e6eae0"),
    ];
    let expected: serde_json::Map<String, serde_json::Value> = node
        .iter()
        .map(|(case, sealed)| (case.to_string(), json!([sealed, message, "OperationError"])))
        .collect();
    assert_eq!(reply.json(), serde_json::Value::Object(expected));
}

/// PBKDF2 runs on the engine's thread in native steps of a few milliseconds: an absurd
/// iteration count is stopped by the execution's timeout like a busy loop, and the engine
/// serves the next request.
#[test]
fn an_absurd_pbkdf2_iteration_count_is_stopped_by_the_timeout() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { timeoutSeconds: 1, engines: 1 } }",
        ),
        (
            "functions/stretch.ts",
            "export default async () => {\n\
               const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('pw'), 'PBKDF2', false, ['deriveBits'])\n\
               await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(16), iterations: 1e9 }, key, 256)\n\
               return 'derived'\n\
             }",
        ),
        (
            "functions/after.ts",
            "export default async () => {\n\
               const digest = await crypto.subtle.digest('SHA-1', new Uint8Array(0))\n\
               return new Uint8Array(digest)[0]\n\
             }",
        ),
    ]);
    let server = project.start();
    let started = std::time::Instant::now();
    let reply = server.get("/stretch");
    let waited = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.body);
    let record = server.record(&reply.request_id());
    assert_eq!(record["status"], "timeout");
    assert_eq!(
        record["error"]["message"],
        "timed out after 1s while its code was busy at stretch.ts:3 (running, not awaiting)"
    );
    // Stopped at the deadline, not when 1e9 iterations (hours) were done.
    assert!(
        waited < std::time::Duration::from_secs(5),
        "answered after {waited:?}"
    );
    // The same (only) engine runs the next request.
    let reply = server.get("/after");
    assert_eq!((reply.status, reply.body.as_str()), (200, "218"));
}

/// A key's material stays in Rust: logging, returning or serializing a CryptoKey shows none of
/// it, in the record, the console or the response.
#[test]
fn key_material_appears_in_no_record_response_or_console_output() {
    let project = Project::with_files(&[(
        "functions/leak.ts",
        "export default async () => {\n\
           const bytes = new TextEncoder().encode('hunter2-secret-material')\n\
           const key = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])\n\
           bytes.fill(0)\n\
           console.log(key)\n\
           console.log('as JSON', JSON.stringify(key), Object.keys(key), String(key))\n\
           console.log({ key, algorithm: key.algorithm, usages: key.usages })\n\
           const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode('data'))\n\
           return { key, type: key.type, macBytes: mac.byteLength }\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/leak");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"key": {}, "type": "secret", "macBytes": 32})
    );
    let record = server.record(&reply.request_id());
    let console = crate::support::console_messages(&record);
    assert_eq!(console.len(), 3, "{console:?}");
    assert!(
        console[2].contains("SHA-256") && console[2].contains("sign"),
        "{console:?}"
    );
    // The secret as text, hex and base64.
    let output = server.stop();
    for text in [
        record.to_string(),
        console.join("\n"),
        reply.body.clone(),
        output,
    ] {
        for secret in [
            "hunter2-secret-material",
            "68756e746572322d736563726574",
            "aHVudGVyMi1zZWNyZXQtbWF0ZXJpYWw",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
