//! `crypto.randomUUID` and the bytes of `crypto.getRandomValues`.

use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Object, TypedArray};

/// The most bytes one `getRandomValues` call fills, as in Web Crypto.
const MAX_RANDOM_BYTES: usize = 65_536;

pub(super) fn install<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let crypto = Object::new(ctx.clone())?;
    crypto.set(
        "randomUUID",
        Function::new(ctx.clone(), || uuid::Uuid::new_v4().to_string())?,
    )?;
    crypto.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, len: Opt<f64>| {
            let len = len.0.unwrap_or(0.0).clamp(0.0, MAX_RANDOM_BYTES as f64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
            TypedArray::<u8>::new(ctx, bytes)
        })?,
    )?;
    Ok(crypto)
}
