//! PBKDF2 (RFC 8018) in steps. A derivation's cost is the caller's `iterations`, which may be
//! absurd (1e9 takes hours); run in one native call it could not be stopped, since QuickJS
//! interrupts only JavaScript. subtle.js calls [`Pbkdf2Run::step`] in a loop instead, each call
//! about [`STEP`] (100 µs), so that the execution's timeout stops the loop between two steps. The
//! `pbkdf2` crate computes a derivation in one call only, hence this loop over `hmac`.

use std::time::{Duration, Instant};

use hmac::digest::{KeyInit, Output};
use hmac::Mac;
use zeroize::Zeroizing;

/// How long one step may run. QuickJS looks at its interrupt handler once per some thousands
/// of loop turns, and each step is one turn of subtle.js's loop: a short step keeps the time a
/// timed-out derivation goes on to a fraction of a second; a call costs about a microsecond.
const STEP: Duration = Duration::from_micros(100);
/// Iterations between two looks at the clock.
const BATCH: u32 = 16;

/// A derivation under way.
pub trait Pbkdf2Run {
    /// Runs for about [`STEP`]; true once the derived bytes are complete.
    fn step(&mut self) -> bool;
    /// The derived bytes (once [`Pbkdf2Run::step`] returned true).
    fn output(&self) -> &[u8];
}

/// A derivation of `length` bytes with the pseudo-random function `M` (an HMAC).
pub fn start<M>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    length: usize,
) -> Option<Box<dyn Pbkdf2Run>>
where
    M: Mac + KeyInit + Clone + 'static,
{
    let prf = <M as KeyInit>::new_from_slice(password).ok()?;
    Some(Box::new(Run::<M> {
        prf,
        salt: salt.to_vec(),
        iterations,
        output: Zeroizing::new(Vec::with_capacity(length)),
        length,
        block: 0,
        done: 0,
        u: Output::<M>::default(),
        t: Output::<M>::default(),
    }))
}

struct Run<M: Mac> {
    prf: M,
    salt: Vec<u8>,
    iterations: u32,
    output: Zeroizing<Vec<u8>>,
    length: usize,
    /// The block being computed (T_{block+1} in RFC 8018's terms).
    block: u32,
    /// Iterations done in this block.
    done: u32,
    /// The last U_j and the running XOR of all U_j of this block.
    u: Output<M>,
    t: Output<M>,
}

impl<M: Mac + Clone> Pbkdf2Run for Run<M> {
    fn step(&mut self) -> bool {
        let until = Instant::now() + STEP;
        while self.output.len() < self.length {
            if self.done == 0 {
                // U_1 = PRF(P, S || INT(i))
                let mut mac = self.prf.clone();
                mac.update(&self.salt);
                mac.update(&(self.block + 1).to_be_bytes());
                self.u = mac.finalize().into_bytes();
                self.t = self.u.clone();
                self.done = 1;
            }
            let end = self.iterations.min(self.done.saturating_add(BATCH));
            while self.done < end {
                // U_j = PRF(P, U_{j-1})
                let mut mac = self.prf.clone();
                mac.update(&self.u);
                self.u = mac.finalize().into_bytes();
                for (t, u) in self.t.iter_mut().zip(self.u.iter()) {
                    *t ^= u;
                }
                self.done += 1;
            }
            if self.done == self.iterations {
                let take = (self.length - self.output.len()).min(self.t.len());
                self.output.extend_from_slice(&self.t[..take]);
                self.block += 1;
                self.done = 0;
            } else if Instant::now() >= until {
                return false;
            }
        }
        true
    }

    fn output(&self) -> &[u8] {
        &self.output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Hmac;

    fn derive<M: Mac + KeyInit + Clone + 'static>(
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        length: usize,
    ) -> Vec<u8> {
        let mut run = start::<M>(password, salt, iterations, length).expect("any key length");
        while !run.step() {}
        run.output().to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 6070's vectors (PBKDF2-HMAC-SHA1), including output longer than one block.
    #[test]
    fn rfc_6070_vectors() {
        type Sha1Mac = Hmac<sha1::Sha1>;
        assert_eq!(
            hex(&derive::<Sha1Mac>(b"password", b"salt", 1, 20)),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6"
        );
        assert_eq!(
            hex(&derive::<Sha1Mac>(b"password", b"salt", 4096, 20)),
            "4b007901b765489abead49d926f721d065a429c1"
        );
        assert_eq!(
            hex(&derive::<Sha1Mac>(
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                25
            )),
            "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"
        );
        assert_eq!(
            hex(&derive::<Sha1Mac>(b"pass\0word", b"sa\0lt", 4096, 16)),
            "56fa6aa75548099dcc37d7f03425e0c3"
        );
    }
}
