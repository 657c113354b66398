//! The native side of `crypto.subtle` (js/subtle.js holds the Web Crypto API itself: algorithm
//! normalisation, `CryptoKey`, usages, promises). Each function here is synchronous and works
//! on plain bytes and key handles: a `CryptoKey` keeps its material in a [`KeyHandle`], which
//! JavaScript can pass back but never read. Failures are thrown as host functions throw theirs,
//! as a [`Failure`](super::Failure), which subtle.js turns into the `DOMException` Web Crypto
//! specifies.

mod gcm;
mod keys;
mod pbkdf2;

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::AesGcm;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rand_core::OsRng;
use rquickjs::class::Trace;
use rquickjs::{ArrayBuffer, Class, Ctx, FromJs, Function, JsLifetime, Object, TypedArray};
use rsa::Pkcs1v15Sign;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::{contain, is_failure, throw_failure, CopiedBytes, Crash};
use keys::{KeyData, Kind};
use pbkdf2::Pbkdf2Run;

/// Why a native operation failed, named as the `DOMException` subtle.js throws.
#[derive(Debug, thiserror::Error)]
pub enum SubtleError {
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    InvalidAccess(String),
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Operation(String),
}

impl SubtleError {
    fn name(&self) -> &'static str {
        match self {
            SubtleError::NotSupported(_) => "NotSupportedError",
            SubtleError::InvalidAccess(_) => "InvalidAccessError",
            SubtleError::Data(_) => "DataError",
            SubtleError::Operation(_) => "OperationError",
        }
    }
}

/// A `CryptoKey`'s material.
#[derive(Trace, JsLifetime)]
#[rquickjs::class]
pub struct KeyHandle {
    #[qjs(skip_trace)]
    key: KeyData,
}

/// A PBKDF2 derivation under way (see [`pbkdf2`]).
#[derive(Trace, JsLifetime)]
#[rquickjs::class]
pub struct Derivation {
    #[qjs(skip_trace)]
    run: Box<dyn Pbkdf2Run>,
}

/// Bytes from a `Uint8Array` (subtle.js passes every BufferSource as one), copied.
struct Bytes(Zeroizing<Vec<u8>>);

impl<'js> FromJs<'js> for Bytes {
    fn from_js(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<Bytes> {
        CopiedBytes::from_js(ctx, value).map(|CopiedBytes(bytes)| Bytes(Zeroizing::new(bytes)))
    }
}

/// The digest algorithms, by their Web Crypto names.
#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn parse(name: &str) -> Result<Hash, SubtleError> {
        Ok(match name {
            "SHA-1" => Hash::Sha1,
            "SHA-256" => Hash::Sha256,
            "SHA-384" => Hash::Sha384,
            "SHA-512" => Hash::Sha512,
            other => {
                return Err(SubtleError::NotSupported(format!(
                    "unrecognized hash {other}"
                )))
            }
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SubtleError> {
        fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, SubtleError> {
            let mut mac = <M as KeyInit>::new_from_slice(key)
                .map_err(|_| SubtleError::Operation("an HMAC key cannot be empty".into()))?;
            mac.update(data);
            Ok(mac.finalize().into_bytes().to_vec())
        }
        match self {
            Hash::Sha1 => mac::<Hmac<Sha1>>(key, data),
            Hash::Sha256 => mac::<Hmac<Sha256>>(key, data),
            Hash::Sha384 => mac::<Hmac<Sha384>>(key, data),
            Hash::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            Hash::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
            Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }
}

fn wrong_key(operation: &str) -> SubtleError {
    SubtleError::InvalidAccess(format!("the key cannot be used to {operation}"))
}

fn sign(algorithm: &str, hash: &str, key: &KeyData, data: &[u8]) -> Result<Vec<u8>, SubtleError> {
    match (algorithm, key) {
        ("HMAC", KeyData::Secret(secret)) => Hash::parse(hash)?.hmac(secret, data),
        ("ECDSA", KeyData::EcPrivate(secret)) => {
            let digest = Hash::parse(hash)?.digest(data);
            let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(secret)
                .sign_prehash(&digest)
                .map_err(|e| SubtleError::Operation(format!("ECDSA signing failed: {e}")))?;
            // IEEE P1363 (r || s), as Web Crypto specifies, not DER.
            Ok(signature.to_bytes().to_vec())
        }
        ("Ed25519", KeyData::EdPrivate(secret)) => {
            use ed25519_dalek::Signer;
            Ok(secret.sign(data).to_bytes().to_vec())
        }
        ("RSASSA-PKCS1-v1_5", KeyData::RsaPrivate(secret)) => {
            let hash = Hash::parse(hash)?;
            secret
                .sign_with_rng(&mut OsRng, hash.pkcs1v15(), &hash.digest(data))
                .map_err(|e| SubtleError::Operation(format!("RSA signing failed: {e}")))
        }
        _ => Err(wrong_key("sign")),
    }
}

fn verify(
    algorithm: &str,
    hash: &str,
    key: &KeyData,
    signature: &[u8],
    data: &[u8],
) -> Result<bool, SubtleError> {
    Ok(match (algorithm, key) {
        ("HMAC", KeyData::Secret(secret)) => {
            let expected = Hash::parse(hash)?.hmac(secret, data)?;
            expected.len() == signature.len()
                && bool::from(::subtle::ConstantTimeEq::ct_eq(&expected[..], signature))
        }
        ("ECDSA", KeyData::EcPublic(public)) => {
            let digest = Hash::parse(hash)?.digest(data);
            // A signature of the wrong length or out of range is not valid: false, not an error.
            match p256::ecdsa::Signature::from_slice(signature) {
                Ok(signature) => p256::ecdsa::VerifyingKey::from(public)
                    .verify_prehash(&digest, &signature)
                    .is_ok(),
                Err(_) => false,
            }
        }
        ("Ed25519", KeyData::EdPublic(public)) => {
            match ed25519_dalek::Signature::from_slice(signature) {
                Ok(signature) => public.verify_strict(data, &signature).is_ok(),
                Err(_) => false,
            }
        }
        ("RSASSA-PKCS1-v1_5", KeyData::RsaPublic(public)) => {
            let hash = Hash::parse(hash)?;
            public
                .verify(hash.pkcs1v15(), &hash.digest(data), signature)
                .is_ok()
        }
        _ => return Err(wrong_key("verify")),
    })
}

/// AES-GCM: the `aes-gcm` crate for the usual case (a 12- or 16-byte IV, the full 128-bit
/// tag), [`gcm::seal_or_open`] for the rest Web Crypto allows (other IV lengths, shorter tags).
fn aes_gcm(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_bits: u32,
    data: &[u8],
) -> Result<Vec<u8>, SubtleError> {
    fn run<C: KeyInit + AeadInPlace>(
        encrypt: bool,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        data: &[u8],
    ) -> Result<Vec<u8>, SubtleError> {
        let cipher = C::new_from_slice(key).map_err(|_| gcm::bad_key())?;
        let nonce = aes_gcm::aead::Nonce::<C>::from_slice(iv);
        if encrypt {
            let mut sealed = data.to_vec();
            let tag = cipher
                .encrypt_in_place_detached(nonce, aad, &mut sealed)
                .map_err(|_| SubtleError::Operation("AES-GCM encryption failed".into()))?;
            sealed.extend_from_slice(&tag);
            return Ok(sealed);
        }
        let split = data.len().checked_sub(16).ok_or_else(gcm::rejected)?;
        let (ciphertext, tag) = data.split_at(split);
        let mut opened = Zeroizing::new(ciphertext.to_vec());
        cipher
            .decrypt_in_place_detached(nonce, aad, &mut opened, tag.into())
            .map_err(|_| gcm::rejected())?;
        Ok(opened.to_vec())
    }
    if !matches!(tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128) {
        return Err(SubtleError::Operation(format!(
            "{tag_bits} is not a valid AES-GCM tag length"
        )));
    }
    let tag_bytes = tag_bits as usize / 8;
    if tag_bytes != 16 || !matches!(iv.len(), 12 | 16) {
        return gcm::seal_or_open(encrypt, key, iv, aad, tag_bytes, data);
    }
    macro_rules! ivs {
        ($aes:ty) => {
            match iv.len() {
                12 => run::<AesGcm<$aes, U12>>(encrypt, key, iv, aad, data),
                _ => run::<AesGcm<$aes, U16>>(encrypt, key, iv, aad, data),
            }
        };
    }
    match key.len() {
        16 => ivs!(Aes128),
        24 => ivs!(Aes192),
        32 => ivs!(Aes256),
        _ => Err(gcm::bad_key()),
    }
}

fn hkdf(
    hash: Hash,
    key: &[u8],
    salt: &[u8],
    info: &[u8],
    bytes: usize,
) -> Result<Vec<u8>, SubtleError> {
    let mut out = vec![0u8; bytes];
    let too_long = |_| {
        SubtleError::Operation(
            "HKDF cannot derive that many bits with this hash (at most 255 times its output)"
                .into(),
        )
    };
    match hash {
        Hash::Sha1 => hkdf::Hkdf::<Sha1>::new(Some(salt), key).expand(info, &mut out),
        Hash::Sha256 => hkdf::Hkdf::<Sha256>::new(Some(salt), key).expand(info, &mut out),
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::new(Some(salt), key).expand(info, &mut out),
        Hash::Sha512 => hkdf::Hkdf::<Sha512>::new(Some(salt), key).expand(info, &mut out),
    }
    .map_err(too_long)?;
    Ok(out)
}

fn pbkdf2_start(
    hash: Hash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    bytes: usize,
) -> Option<Box<dyn Pbkdf2Run>> {
    match hash {
        Hash::Sha1 => pbkdf2::start::<Hmac<Sha1>>(password, salt, iterations, bytes),
        Hash::Sha256 => pbkdf2::start::<Hmac<Sha256>>(password, salt, iterations, bytes),
        Hash::Sha384 => pbkdf2::start::<Hmac<Sha384>>(password, salt, iterations, bytes),
        Hash::Sha512 => pbkdf2::start::<Hmac<Sha512>>(password, salt, iterations, bytes),
    }
}

/// Runs a native operation: its error is thrown as a [`Failure`](super::Failure) named after
/// its DOMException; a panic is kept in `crash` (the execution is then stopped), as every host
/// function does.
fn call<'js, T>(
    ctx: &Ctx<'js>,
    crash: &Crash,
    operation: impl FnOnce() -> Result<T, SubtleError>,
) -> rquickjs::Result<T> {
    let result = contain(crash, operation)
        .unwrap_or_else(|| Err(SubtleError::Operation("the engine crashed".into())));
    result.map_err(|error| throw_failure(ctx, error.name(), error.to_string()))
}

fn handle<'js>(ctx: &Ctx<'js>, key: KeyData) -> rquickjs::Result<Class<'js, KeyHandle>> {
    Class::instance(ctx.clone(), KeyHandle { key })
}

fn buffer<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>) -> rquickjs::Result<ArrayBuffer<'js>> {
    ArrayBuffer::new(ctx.clone(), bytes)
}

/// The natives subtle.js receives, each bound to the engine's panic slot.
pub(super) fn install<'js>(ctx: &Ctx<'js>, crash: &Crash) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "isFailure",
        Function::new(ctx.clone(), |value: rquickjs::Value<'js>| {
            is_failure(&value)
        })?,
    )?;
    let c = crash.clone();
    natives.set(
        "digest",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, hash: String, data: Bytes| {
                let digest = call(&ctx, &c, || Ok(Hash::parse(&hash)?.digest(&data.0)))?;
                buffer(&ctx, digest)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "importKey",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, kind: String, format: String, data: Bytes| {
                let key = call(&ctx, &c, || {
                    keys::import(Kind::parse(&kind)?, &format, &data.0)
                })?;
                handle(&ctx, key)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "importJwk",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, kind: String, jwk: String| {
                let jwk = Zeroizing::new(jwk);
                let key = call(&ctx, &c, || keys::import_jwk(Kind::parse(&kind)?, &jwk))?;
                handle(&ctx, key)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "exportKey",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: Class<'js, KeyHandle>, format: String| {
                let bytes = call(&ctx, &c, || keys::export(&key.borrow().key, &format))?;
                buffer(&ctx, bytes)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "exportJwk",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: Class<'js, KeyHandle>| {
                call(&ctx, &c, || keys::export_jwk(&key.borrow().key))
            },
        )?,
    )?;
    natives.set(
        "info",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, key: Class<'js, KeyHandle>| {
            let info = Object::new(ctx.clone())?;
            let key = key.borrow();
            info.set("type", key.key.kind_name())?;
            if let Some(bits) = key.key.secret_bits() {
                info.set("bits", bits)?;
            }
            if let Some(public) = key.key.rsa_public() {
                use rsa::traits::PublicKeyParts;
                info.set("modulusLength", public.n().bits())?;
                info.set(
                    "publicExponent",
                    TypedArray::<u8>::new(ctx.clone(), public.e().to_bytes_be())?,
                )?;
            }
            Ok::<_, rquickjs::Error>(info)
        })?,
    )?;
    natives.set(
        "generateSecret",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, bits: usize| {
            handle(&ctx, keys::generate_secret(bits))
        })?,
    )?;
    let c = crash.clone();
    natives.set(
        "generatePair",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, kind: String, modulus_bits: usize, exponent: Bytes| {
                let (private, public) = call(&ctx, &c, || {
                    keys::generate_pair(Kind::parse(&kind)?, modulus_bits, &exponent.0)
                })?;
                Ok::<_, rquickjs::Error>(vec![handle(&ctx, private)?, handle(&ctx, public)?])
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "sign",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  algorithm: String,
                  hash: String,
                  key: Class<'js, KeyHandle>,
                  data: Bytes| {
                let signature = call(&ctx, &c, || {
                    sign(&algorithm, &hash, &key.borrow().key, &data.0)
                })?;
                buffer(&ctx, signature)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "verify",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  algorithm: String,
                  hash: String,
                  key: Class<'js, KeyHandle>,
                  signature: Bytes,
                  data: Bytes| {
                call(&ctx, &c, || {
                    verify(&algorithm, &hash, &key.borrow().key, &signature.0, &data.0)
                })
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "aesGcm",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  encrypt: bool,
                  key: Class<'js, KeyHandle>,
                  iv: Bytes,
                  aad: Bytes,
                  tag_bits: u32,
                  data: Bytes| {
                let out = call(&ctx, &c, || match &key.borrow().key {
                    KeyData::Secret(secret) => {
                        aes_gcm(encrypt, secret, &iv.0, &aad.0, tag_bits, &data.0)
                    }
                    _ => Err(wrong_key("encrypt")),
                })?;
                buffer(&ctx, out)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "hkdf",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  hash: String,
                  key: Class<'js, KeyHandle>,
                  salt: Bytes,
                  info: Bytes,
                  bits: usize| {
                let out = call(&ctx, &c, || match &key.borrow().key {
                    KeyData::Secret(secret) => {
                        hkdf(Hash::parse(&hash)?, secret, &salt.0, &info.0, bits / 8)
                    }
                    _ => Err(wrong_key("derive bits")),
                })?;
                buffer(&ctx, out)
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "pbkdf2",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  hash: String,
                  key: Class<'js, KeyHandle>,
                  salt: Bytes,
                  iterations: u32,
                  bits: usize| {
                let run = call(&ctx, &c, || match &key.borrow().key {
                    KeyData::Secret(secret) => {
                        pbkdf2_start(Hash::parse(&hash)?, secret, &salt.0, iterations, bits / 8)
                            .ok_or_else(|| SubtleError::Operation("PBKDF2 could not start".into()))
                    }
                    _ => Err(wrong_key("derive bits")),
                })?;
                Class::instance(ctx.clone(), Derivation { run })
            },
        )?,
    )?;
    let c = crash.clone();
    natives.set(
        "pbkdf2Step",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, run: Class<'js, Derivation>| {
                call(&ctx, &c, || Ok(run.borrow_mut().run.step()))
            },
        )?,
    )?;
    natives.set(
        "pbkdf2Output",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, run: Class<'js, Derivation>| {
            let bytes = run.borrow().run.output().to_vec();
            buffer(&ctx, bytes)
        })?,
    )?;
    Ok(natives)
}
