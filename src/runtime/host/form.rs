//! Form bodies for the js/web/ files: `.formData()` of a multipart body parses here (with the
//! server's parser, runtime/multipart.rs), and the files of an upload in `req.body` arrive as
//! base64 that becomes bytes here rather than in interpreted JavaScript.

use base64::Engine as _;
use rquickjs::{Array, Ctx, Exception, Function, Object, TypedArray};

use super::CopiedBytes;

pub(super) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> rquickjs::Result<()> {
    // `[[name, text]` or `[name, bytes, filename, type]], …]`; a malformed body throws a
    // TypeError, as `.formData()` rejects with one.
    natives.set(
        "parseMultipart",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, content_type: String, CopiedBytes(body): CopiedBytes| {
                let parts = crate::runtime::multipart::parse(&content_type, body.into())
                    .map_err(|e| Exception::throw_type(&ctx, &e.to_string()))?;
                let out = Array::new(ctx.clone())?;
                for (i, part) in parts.into_iter().enumerate() {
                    let entry = Array::new(ctx.clone())?;
                    entry.set(0, part.name)?;
                    match part.filename {
                        None => entry.set(1, String::from_utf8_lossy(&part.data).into_owned())?,
                        Some(filename) => {
                            entry.set(1, TypedArray::<u8>::new_copy(ctx.clone(), &part.data)?)?;
                            entry.set(2, filename)?;
                            entry.set(3, part.content_type.unwrap_or_default())?;
                        }
                    }
                    out.set(i, entry)?;
                }
                Ok::<_, rquickjs::Error>(out)
            },
        )?,
    )?;
    natives.set(
        "bytesFromBase64",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| Exception::throw_type(&ctx, &format!("invalid base64: {e}")))?;
            TypedArray::<u8>::new(ctx, bytes)
        })?,
    )?;
    Ok(())
}
