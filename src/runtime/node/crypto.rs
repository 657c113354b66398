//! The hashing under `node:crypto`'s `createHash` and `createHmac`: synchronous, on the
//! RustCrypto crates (the ones `crypto.subtle` uses).

use hmac::{Hmac, Mac};
use rquickjs::{Ctx, Exception, Function, Object, TypedArray};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::runtime::host::CopiedBytes;

fn digest<D: Digest>(data: &[u8]) -> Vec<u8> {
    D::digest(data).to_vec()
}

/// `data`'s HMAC under `key` (HMAC takes a key of any length: a longer one is hashed, so
/// `new_from_slice` never fails).
fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac.finalize().into_bytes().to_vec())
}

/// `data`'s digest by `algorithm` (in any case, as Node takes it); `None` for one not in
/// `getHashes()` (js/node/crypto.js checks before it asks).
fn digest_sync(algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm.to_ascii_lowercase().as_str() {
        "md5" => digest::<md5::Md5>(data),
        "sha1" => digest::<Sha1>(data),
        "sha224" => digest::<Sha224>(data),
        "sha256" => digest::<Sha256>(data),
        "sha384" => digest::<Sha384>(data),
        "sha512" => digest::<Sha512>(data),
        _ => return None,
    })
}

/// `data`'s HMAC under `key` by `algorithm`; `None` as for [`digest_sync`].
fn hmac_sync(algorithm: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    match algorithm.to_ascii_lowercase().as_str() {
        "md5" => hmac::<Hmac<md5::Md5>>(key, data),
        "sha1" => hmac::<Hmac<Sha1>>(key, data),
        "sha224" => hmac::<Hmac<Sha224>>(key, data),
        "sha256" => hmac::<Hmac<Sha256>>(key, data),
        "sha384" => hmac::<Hmac<Sha384>>(key, data),
        "sha512" => hmac::<Hmac<Sha512>>(key, data),
        _ => None,
    }
}

/// The error for an algorithm js/node/crypto.js let through but the host lacks: a flux bug.
fn unknown(ctx: &Ctx<'_>, algorithm: &str) -> rquickjs::Error {
    Exception::throw_internal(ctx, &format!("node:crypto has no digest '{algorithm}'"))
}

/// What `js/node/crypto.js` is given: `digest(algorithm, bytes)` and `hmac(algorithm, key,
/// bytes)` (each a Uint8Array), for an algorithm its `getHashes()` lists.
pub(super) fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, CopiedBytes(data): CopiedBytes| {
                let out =
                    digest_sync(&algorithm, &data).ok_or_else(|| unknown(&ctx, &algorithm))?;
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    natives.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algorithm: String,
             CopiedBytes(key): CopiedBytes,
             CopiedBytes(data): CopiedBytes| {
                let out =
                    hmac_sync(&algorithm, &key, &data).ok_or_else(|| unknown(&ctx, &algorithm))?;
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    Ok(natives)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn digests_and_hmacs_match_known_vectors() {
        assert_eq!(
            hex(&digest_sync("MD5", b"abc").expect("md5")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex(&digest_sync("sha256", b"abc").expect("sha256")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231, test case 2.
        assert_eq!(
            hex(&hmac_sync("sha256", b"Jefe", b"what do ya want for nothing?").expect("hmac")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(digest_sync("sha3-256", b"").is_none());
    }
}
