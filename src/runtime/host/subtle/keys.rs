//! Key material for `crypto.subtle`: what a `CryptoKey`'s handle holds, and its import, export
//! and generation in the formats Web Crypto defines (raw, JWK, SPKI, PKCS #8). The material
//! never leaves Rust except through an export of an extractable key (subtle.js checks that).

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::OsRng;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::SubtleError;

/// JWK members are base64url without padding; a padded value is accepted too, as Node does.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The kinds of key material, as subtle.js names them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HMAC, AES-GCM, PBKDF2 and HKDF keys: bytes.
    Secret,
    /// ECDSA on P-256.
    Ec,
    Ed25519,
    /// RSASSA-PKCS1-v1_5.
    Rsa,
}

impl Kind {
    pub fn parse(name: &str) -> Result<Kind, SubtleError> {
        Ok(match name {
            "secret" => Kind::Secret,
            "ec" => Kind::Ec,
            "ed25519" => Kind::Ed25519,
            "rsa" => Kind::Rsa,
            other => return Err(SubtleError::NotSupported(format!("no key kind {other}"))),
        })
    }
}

/// What a `CryptoKey` holds. Secret types zeroize their bytes when dropped.
pub enum KeyData {
    Secret(Zeroizing<Vec<u8>>),
    EcPrivate(p256::SecretKey),
    EcPublic(p256::PublicKey),
    EdPrivate(ed25519_dalek::SigningKey),
    EdPublic(ed25519_dalek::VerifyingKey),
    RsaPrivate(RsaPrivateKey),
    RsaPublic(RsaPublicKey),
}

impl KeyData {
    /// The key's `type`: "secret", "public" or "private".
    pub fn kind_name(&self) -> &'static str {
        match self {
            KeyData::Secret(_) => "secret",
            KeyData::EcPublic(_) | KeyData::EdPublic(_) | KeyData::RsaPublic(_) => "public",
            KeyData::EcPrivate(_) | KeyData::EdPrivate(_) | KeyData::RsaPrivate(_) => "private",
        }
    }

    /// A secret key's length in bits.
    pub fn secret_bits(&self) -> Option<usize> {
        match self {
            KeyData::Secret(bytes) => Some(bytes.len() * 8),
            _ => None,
        }
    }

    /// An RSA key's public part (for `modulusLength` and `publicExponent`).
    pub fn rsa_public(&self) -> Option<RsaPublicKey> {
        match self {
            KeyData::RsaPrivate(key) => Some(key.to_public_key()),
            KeyData::RsaPublic(key) => Some(key.clone()),
            _ => None,
        }
    }
}

fn data_error(what: &str) -> impl Fn(String) -> SubtleError + '_ {
    move |detail| SubtleError::Data(format!("{what}: {detail}"))
}

/// Imports key material of `kind` from `format`'s bytes.
pub fn import(kind: Kind, format: &str, bytes: &[u8]) -> Result<KeyData, SubtleError> {
    match (kind, format) {
        (Kind::Secret, "raw") => Ok(KeyData::Secret(Zeroizing::new(bytes.to_vec()))),
        (Kind::Ec, "raw") => p256::PublicKey::from_sec1_bytes(bytes)
            .map(KeyData::EcPublic)
            .map_err(|_| SubtleError::Data("not a P-256 public point".into())),
        (Kind::Ec, "spki") => p256::PublicKey::from_public_key_der(bytes)
            .map(KeyData::EcPublic)
            .map_err(|e| data_error("not a P-256 SPKI public key")(e.to_string())),
        (Kind::Ec, "pkcs8") => p256::SecretKey::from_pkcs8_der(bytes)
            .map(KeyData::EcPrivate)
            .map_err(|e| data_error("not a P-256 PKCS #8 private key")(e.to_string())),
        (Kind::Ed25519, "raw") => {
            let bytes: [u8; 32] = bytes
                .try_into()
                .map_err(|_| SubtleError::Data("an Ed25519 public key is 32 bytes".into()))?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(KeyData::EdPublic)
                .map_err(|_| SubtleError::Data("not an Ed25519 public key".into()))
        }
        (Kind::Ed25519, "spki") => ed25519_dalek::VerifyingKey::from_public_key_der(bytes)
            .map(KeyData::EdPublic)
            .map_err(|e| data_error("not an Ed25519 SPKI public key")(e.to_string())),
        (Kind::Ed25519, "pkcs8") => ed25519_dalek::SigningKey::from_pkcs8_der(bytes)
            .map(KeyData::EdPrivate)
            .map_err(|e| data_error("not an Ed25519 PKCS #8 private key")(e.to_string())),
        (Kind::Rsa, "spki") => RsaPublicKey::from_public_key_der(bytes)
            .map(KeyData::RsaPublic)
            .map_err(|e| data_error("not an RSA SPKI public key")(e.to_string())),
        (Kind::Rsa, "pkcs8") => RsaPrivateKey::from_pkcs8_der(bytes)
            .map(KeyData::RsaPrivate)
            .map_err(|e| data_error("not an RSA PKCS #8 private key")(e.to_string())),
        (_, format) => Err(SubtleError::NotSupported(format!(
            "this key cannot be imported as {format}"
        ))),
    }
}

/// Exports key material as `format`'s bytes.
pub fn export(key: &KeyData, format: &str) -> Result<Vec<u8>, SubtleError> {
    let der = |result: Result<Vec<u8>, String>| {
        result.map_err(|e| SubtleError::Operation(format!("the key could not be encoded: {e}")))
    };
    match (key, format) {
        (KeyData::Secret(bytes), "raw") => Ok(bytes.to_vec()),
        (KeyData::EcPublic(key), "raw") => Ok(key.to_sec1_bytes().to_vec()),
        (KeyData::EdPublic(key), "raw") => Ok(key.to_bytes().to_vec()),
        (KeyData::EcPublic(key), "spki") => der(key
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|e| e.to_string())),
        (KeyData::EdPublic(key), "spki") => der(key
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|e| e.to_string())),
        (KeyData::RsaPublic(key), "spki") => der(key
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|e| e.to_string())),
        (KeyData::EcPrivate(key), "pkcs8") => der(key
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())),
        // PKCS #8 v1 (RFC 8410), the secret alone, as browsers and Node export it: the v2 form
        // ed25519-dalek writes carries the public key too, 83 bytes instead of 48.
        (KeyData::EdPrivate(key), "pkcs8") => der(ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: key.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| e.to_string())),
        (KeyData::RsaPrivate(key), "pkcs8") => der(key
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())),
        (key, format) => Err(SubtleError::InvalidAccess(format!(
            "a {} key cannot be exported as {format}",
            key.kind_name()
        ))),
    }
}

/// The members of a JWK that carry key material.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    k: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
    n: Option<String>,
    e: Option<String>,
    p: Option<String>,
    q: Option<String>,
    oth: Option<Value>,
}

fn member(value: &Option<String>, name: &str) -> Result<Zeroizing<Vec<u8>>, SubtleError> {
    let text = value
        .as_deref()
        .ok_or_else(|| SubtleError::Data(format!("the JWK has no \"{name}\" member")))?;
    B64URL
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| SubtleError::Data(format!("the JWK's \"{name}\" is not base64url")))
}

fn encode(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// Imports the material of a JWK (its `kty`, `use`, `key_ops` and `ext` were checked by
/// subtle.js).
pub fn import_jwk(kind: Kind, text: &str) -> Result<KeyData, SubtleError> {
    let jwk: Jwk = serde_json::from_str(text)
        .map_err(|e| SubtleError::Data(format!("not a JSON Web Key: {e}")))?;
    let expect_kty = match kind {
        Kind::Secret => "oct",
        Kind::Ec => "EC",
        Kind::Ed25519 => "OKP",
        Kind::Rsa => "RSA",
    };
    if jwk.kty.as_deref() != Some(expect_kty) {
        return Err(SubtleError::Data(format!(
            "the JWK's \"kty\" must be \"{expect_kty}\""
        )));
    }
    match kind {
        Kind::Secret => Ok(KeyData::Secret(member(&jwk.k, "k")?)),
        Kind::Ec => {
            if jwk.crv.as_deref() != Some("P-256") {
                return Err(SubtleError::Data(
                    "the JWK's \"crv\" must be \"P-256\"".into(),
                ));
            }
            let (x, y) = (member(&jwk.x, "x")?, member(&jwk.y, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(SubtleError::Data(
                    "a P-256 JWK's \"x\" and \"y\" are 32 bytes each".into(),
                ));
            }
            let point = p256::EncodedPoint::from_affine_coordinates(
                x.as_slice().into(),
                y.as_slice().into(),
                false,
            );
            let public =
                Option::<p256::PublicKey>::from(p256::PublicKey::from_encoded_point(&point))
                    .ok_or_else(|| SubtleError::Data("the JWK's point is not on P-256".into()))?;
            if jwk.d.is_none() {
                return Ok(KeyData::EcPublic(public));
            }
            let d = member(&jwk.d, "d")?;
            if d.len() != 32 {
                return Err(SubtleError::Data("a P-256 JWK's \"d\" is 32 bytes".into()));
            }
            let secret = p256::SecretKey::from_slice(&d)
                .map_err(|_| SubtleError::Data("the JWK's \"d\" is not a P-256 scalar".into()))?;
            if secret.public_key() != public {
                return Err(SubtleError::Data(
                    "the JWK's \"d\" does not match its \"x\" and \"y\"".into(),
                ));
            }
            Ok(KeyData::EcPrivate(secret))
        }
        Kind::Ed25519 => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err(SubtleError::Data(
                    "the JWK's \"crv\" must be \"Ed25519\"".into(),
                ));
            }
            let x = member(&jwk.x, "x")?;
            let x: [u8; 32] = x
                .as_slice()
                .try_into()
                .map_err(|_| SubtleError::Data("an Ed25519 JWK's \"x\" is 32 bytes".into()))?;
            let public = ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| SubtleError::Data("the JWK's \"x\" is not an Ed25519 key".into()))?;
            if jwk.d.is_none() {
                return Ok(KeyData::EdPublic(public));
            }
            let d = member(&jwk.d, "d")?;
            let d: [u8; 32] = d
                .as_slice()
                .try_into()
                .map_err(|_| SubtleError::Data("an Ed25519 JWK's \"d\" is 32 bytes".into()))?;
            let secret = ed25519_dalek::SigningKey::from_bytes(&d);
            if secret.verifying_key() != public {
                return Err(SubtleError::Data(
                    "the JWK's \"d\" does not match its \"x\"".into(),
                ));
            }
            Ok(KeyData::EdPrivate(secret))
        }
        Kind::Rsa => {
            let big = |value: &Option<String>, name: &str| {
                member(value, name).map(|bytes| BigUint::from_bytes_be(&bytes))
            };
            let (n, e) = (big(&jwk.n, "n")?, big(&jwk.e, "e")?);
            if jwk.d.is_none() {
                return RsaPublicKey::new(n, e)
                    .map(KeyData::RsaPublic)
                    .map_err(|e| SubtleError::Data(format!("not an RSA public key: {e}")));
            }
            if jwk.oth.is_some() {
                return Err(SubtleError::NotSupported(
                    "multi-prime RSA keys (\"oth\") are not supported".into(),
                ));
            }
            let d = big(&jwk.d, "d")?;
            let primes = match (&jwk.p, &jwk.q) {
                (Some(_), Some(_)) => vec![big(&jwk.p, "p")?, big(&jwk.q, "q")?],
                _ => Vec::new(),
            };
            RsaPrivateKey::from_components(n, e, d, primes)
                .map(KeyData::RsaPrivate)
                .map_err(|e| SubtleError::Data(format!("not an RSA private key: {e}")))
        }
    }
}

/// The key-material members of `key` as a JWK (subtle.js adds `alg`, `key_ops` and `ext`).
pub fn export_jwk(key: &KeyData) -> Result<String, SubtleError> {
    let value = match key {
        KeyData::Secret(bytes) => json!({ "kty": "oct", "k": encode(bytes) }),
        KeyData::EcPublic(key) => ec_jwk(key, None),
        KeyData::EcPrivate(key) => ec_jwk(&key.public_key(), Some(&key.to_bytes())),
        KeyData::EdPublic(key) => {
            json!({ "kty": "OKP", "crv": "Ed25519", "x": encode(key.as_bytes()) })
        }
        KeyData::EdPrivate(key) => json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": encode(key.verifying_key().as_bytes()),
            "d": encode(key.as_bytes()),
        }),
        KeyData::RsaPublic(key) => json!({
            "kty": "RSA",
            "n": encode(&key.n().to_bytes_be()),
            "e": encode(&key.e().to_bytes_be()),
        }),
        KeyData::RsaPrivate(key) => {
            let [p, q] = key.primes() else {
                return Err(SubtleError::NotSupported(
                    "multi-prime RSA keys cannot be exported as JWK".into(),
                ));
            };
            let part = |value: Option<&BigUint>| -> Result<String, SubtleError> {
                value.map(|v| encode(&v.to_bytes_be())).ok_or_else(|| {
                    SubtleError::Operation("the RSA key's CRT values are missing".into())
                })
            };
            json!({
                "kty": "RSA",
                "n": encode(&key.n().to_bytes_be()),
                "e": encode(&key.e().to_bytes_be()),
                "d": encode(&key.d().to_bytes_be()),
                "p": encode(&p.to_bytes_be()),
                "q": encode(&q.to_bytes_be()),
                "dp": part(key.dp())?,
                "dq": part(key.dq())?,
                "qi": part(key.crt_coefficient().as_ref())?,
            })
        }
    };
    Ok(value.to_string())
}

fn ec_jwk(public: &p256::PublicKey, secret: Option<&[u8]>) -> Value {
    let point = public.to_encoded_point(false);
    let coordinate = |c: Option<&p256::FieldBytes>| c.map(|c| encode(c)).unwrap_or_default();
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": coordinate(point.x()),
        "y": coordinate(point.y()),
    });
    if let Some(d) = secret {
        jwk["d"] = Value::String(encode(d));
    }
    jwk
}

/// A new secret of `bits` random bits.
pub fn generate_secret(bits: usize) -> KeyData {
    let mut bytes = Zeroizing::new(vec![0u8; bits.div_ceil(8)]);
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut bytes);
    KeyData::Secret(bytes)
}

/// A new key pair of `kind`: (private, public).
pub fn generate_pair(
    kind: Kind,
    modulus_bits: usize,
    exponent: &[u8],
) -> Result<(KeyData, KeyData), SubtleError> {
    Ok(match kind {
        Kind::Ec => {
            let secret = p256::SecretKey::random(&mut OsRng);
            let public = secret.public_key();
            (KeyData::EcPrivate(secret), KeyData::EcPublic(public))
        }
        Kind::Ed25519 => {
            let secret = ed25519_dalek::SigningKey::generate(&mut OsRng);
            let public = secret.verifying_key();
            (KeyData::EdPrivate(secret), KeyData::EdPublic(public))
        }
        Kind::Rsa => {
            if !(512..=RsaPublicKey::MAX_SIZE).contains(&modulus_bits) {
                return Err(SubtleError::Operation(format!(
                    "modulusLength must be between 512 and {} bits",
                    RsaPublicKey::MAX_SIZE
                )));
            }
            // An even exponent shares the factor 2 with every p - 1: no prime would do, and
            // the search would never end (the engine's thread with it). The bytes are big-endian.
            if exponent.last().is_none_or(|low| low % 2 == 0) {
                return Err(SubtleError::Operation(
                    "RSA key generation failed: publicExponent must be odd (65537 is usual)".into(),
                ));
            }
            let exponent = BigUint::from_bytes_be(exponent);
            let secret = RsaPrivateKey::new_with_exp(&mut OsRng, modulus_bits, &exponent)
                .map_err(|e| SubtleError::Operation(format!("RSA key generation failed: {e}")))?;
            let public = secret.to_public_key();
            (KeyData::RsaPrivate(secret), KeyData::RsaPublic(public))
        }
        Kind::Secret => {
            return Err(SubtleError::NotSupported(
                "a secret key is not a pair".into(),
            ))
        }
    })
}
