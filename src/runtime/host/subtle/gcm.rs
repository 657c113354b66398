//! AES-GCM with what the `aes-gcm` crate fixes at compile time and Web Crypto leaves open: an
//! IV of any length, a tag of 32 to 128 bits. GCM as NIST SP 800-38D writes it, from the same
//! parts the crate is made of (the AES block cipher, GHASH, 32-bit counter mode):
//!
//! - H = AES_K(0¹²⁸); J0 = IV ‖ 0³¹ ‖ 1 for an IV of 96 bits, else
//!   GHASH_H(IV ‖ 0ˢ ‖ 0⁶⁴ ‖ [len(IV)]₆₄);
//! - C = CTR_K(inc32(J0), P);
//! - T = MSB_t(GHASH_H(A ‖ 0ᵛ ‖ C ‖ 0ᵘ ‖ [len(A)]₆₄ ‖ [len(C)]₆₄) ⊕ AES_K(J0)).
//!
//! Deciphering checks the tag, in constant time, before any plaintext is made.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128, Aes192, Aes256, Block};
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use zeroize::Zeroizing;

use super::SubtleError;

/// GHASH_H of `parts`, each padded with zeros to whole blocks, then the block of the two
/// lengths in bits.
fn ghash(h: &Block, parts: &[&[u8]], lengths: (usize, usize)) -> Block {
    let mut hash = GHash::new(h);
    for part in parts {
        hash.update_padded(part);
    }
    let mut last = Block::default();
    last[..8].copy_from_slice(&((lengths.0 as u64) * 8).to_be_bytes());
    last[8..].copy_from_slice(&((lengths.1 as u64) * 8).to_be_bytes());
    hash.update(&[last]);
    hash.finalize()
}

macro_rules! gcm {
    ($name:ident, $aes:ty) => {
        fn $name(
            encrypt: bool,
            key: &[u8],
            iv: &[u8],
            aad: &[u8],
            tag_bytes: usize,
            data: &[u8],
        ) -> Result<Vec<u8>, SubtleError> {
            let cipher = <$aes>::new_from_slice(key).map_err(|_| bad_key())?;
            let mut h = Block::default();
            cipher.encrypt_block(&mut h);
            let j0 = if iv.len() == 12 {
                let mut j0 = Block::default();
                j0[..12].copy_from_slice(iv);
                j0[15] = 1;
                j0
            } else {
                ghash(&h, &[iv], (0, iv.len()))
            };
            let mut counter = j0;
            let low = u32::from_be_bytes([counter[12], counter[13], counter[14], counter[15]]);
            counter[12..].copy_from_slice(&low.wrapping_add(1).to_be_bytes());
            let keystream = |bytes: &mut [u8]| -> Result<(), SubtleError> {
                let mut ctr =
                    ctr::Ctr32BE::<$aes>::new_from_slices(key, &counter).map_err(|_| bad_key())?;
                ctr.try_apply_keystream(bytes)
                    .map_err(|_| SubtleError::Operation("the data is too long for AES-GCM".into()))
            };
            let tag = |ciphertext: &[u8]| {
                let mut tag = ghash(&h, &[aad, ciphertext], (aad.len(), ciphertext.len()));
                let mut mask = j0;
                cipher.encrypt_block(&mut mask);
                for (t, m) in tag.iter_mut().zip(mask.iter()) {
                    *t ^= m;
                }
                tag
            };
            if encrypt {
                let mut sealed = data.to_vec();
                keystream(&mut sealed)?;
                let tag = tag(&sealed);
                sealed.extend_from_slice(&tag[..tag_bytes]);
                return Ok(sealed);
            }
            let split = data.len().checked_sub(tag_bytes).ok_or_else(rejected)?;
            let (ciphertext, given) = data.split_at(split);
            let expected = tag(ciphertext);
            if !bool::from(::subtle::ConstantTimeEq::ct_eq(
                &expected[..tag_bytes],
                given,
            )) {
                return Err(rejected());
            }
            let mut opened = Zeroizing::new(ciphertext.to_vec());
            keystream(&mut opened)?;
            Ok(opened.to_vec())
        }
    };
}

gcm!(gcm128, Aes128);
gcm!(gcm192, Aes192);
gcm!(gcm256, Aes256);

/// The error for a key of the wrong length.
pub fn bad_key() -> SubtleError {
    SubtleError::Data("an AES key is 16, 24 or 32 bytes".into())
}

/// The error for data that does not open: nothing says which part was wrong.
pub fn rejected() -> SubtleError {
    SubtleError::Operation(
        "the data could not be decrypted: wrong key, IV, additional data or tag, or the data was changed"
            .into(),
    )
}

/// Seals (`encrypt`) or opens `data` with an AES key of 16, 24 or 32 bytes and an IV of any
/// non-zero length; the tag is `tag_bytes` long.
pub fn seal_or_open(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_bytes: usize,
    data: &[u8],
) -> Result<Vec<u8>, SubtleError> {
    match key.len() {
        16 => gcm128(encrypt, key, iv, aad, tag_bytes, data),
        24 => gcm192(encrypt, key, iv, aad, tag_bytes, data),
        32 => gcm256(encrypt, key, iv, aad, tag_bytes, data),
        _ => Err(bad_key()),
    }
}
