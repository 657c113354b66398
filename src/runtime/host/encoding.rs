//! The Encoding standard's decoders for js/web/encoding.js's `TextDecoder`, from `encoding_rs`
//! (Firefox's implementation of the standard): every WHATWG label, UTF-16LE/BE, the single-byte
//! and the legacy CJK encodings, with `fatal`, BOM handling and streaming exactly as specified.

use encoding_rs::{DecoderResult, Encoding};
use rquickjs::class::Trace;
use rquickjs::{Class, Ctx, Exception, Function, JsLifetime, Object, TypedArray};

/// One `TextDecoder`'s decoder. It lives as long as the `TextDecoder` does, carrying a partial
/// sequence from one `decode(…, { stream: true })` to the next.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "FluxDecoder")]
pub struct Decoder {
    #[qjs(skip_trace)]
    encoding: &'static Encoding,
    ignore_bom: bool,
    fatal: bool,
    /// `None` until the first call after a call that was not streaming (the standard makes a
    /// fresh decoder then).
    #[qjs(skip_trace)]
    state: Option<encoding_rs::Decoder>,
}

impl Decoder {
    fn fresh(&self) -> encoding_rs::Decoder {
        // A BOM of the decoder's own encoding is skipped unless `ignoreBOM`; no other sniffing.
        if self.ignore_bom {
            self.encoding.new_decoder_without_bom_handling()
        } else {
            self.encoding.new_decoder_with_bom_removal()
        }
    }
}

/// The encoding a label names, lowercase as `TextDecoder.encoding` gives it; `None` for an
/// unknown label and for `replacement` (which TextDecoder refuses too).
fn encoding_of(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.as_bytes()).filter(|e| *e != encoding_rs::REPLACEMENT)
}

pub(super) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> rquickjs::Result<()> {
    // UTF-8 decoding in one call, without a decoder object (a body's text, a percent-decoded
    // URL part): a BOM is skipped unless `ignoreBOM`, malformed bytes become U+FFFD.
    natives.set(
        "decodeUTF8",
        Function::new(
            ctx.clone(),
            |bytes: TypedArray<'js, u8>, ignore_bom: bool| -> String {
                // SAFETY: the bytes are read here and no JavaScript runs until this returns.
                let input = unsafe { bytes.as_bytes() }.unwrap_or_default();
                let decoded = if ignore_bom {
                    encoding_rs::UTF_8.decode_without_bom_handling(input).0
                } else {
                    encoding_rs::UTF_8.decode_with_bom_removal(input).0
                };
                decoded.into_owned()
            },
        )?,
    )?;
    natives.set(
        "encodingName",
        Function::new(ctx.clone(), |label: String| {
            encoding_of(&label).map(|e| e.name().to_ascii_lowercase())
        })?,
    )?;
    natives.set(
        "newDecoder",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, label: String, fatal: bool, ignore_bom: bool| {
                let encoding = encoding_of(&label).ok_or_else(|| {
                    Exception::throw_range(
                        &ctx,
                        &format!("The \"{label}\" encoding is not supported"),
                    )
                })?;
                Class::instance(
                    ctx,
                    Decoder {
                        encoding,
                        ignore_bom,
                        fatal,
                        state: None,
                    },
                )
            },
        )?,
    )?;
    natives.set(
        "decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             decoder: Class<'js, Decoder>,
             bytes: TypedArray<'js, u8>,
             stream: bool|
             -> rquickjs::Result<String> {
                let mut decoder = decoder.borrow_mut();
                let mut state = match decoder.state.take() {
                    Some(state) => state,
                    None => decoder.fresh(),
                };
                // SAFETY: the bytes are read here and no JavaScript runs until this returns.
                let input = unsafe { bytes.as_bytes() }.unwrap_or_default();
                let last = !stream;
                let capacity = state.max_utf8_buffer_length(input.len()).ok_or_else(|| {
                    Exception::throw_range(&ctx, "the input is too large to decode")
                })?;
                let mut out = String::with_capacity(capacity);
                if decoder.fatal {
                    let (result, _) =
                        state.decode_to_string_without_replacement(input, &mut out, last);
                    if let DecoderResult::Malformed(_, _) = result {
                        // The decoder starts over at the next call, as after a call not streaming.
                        return Err(Exception::throw_type(
                            &ctx,
                            &format!(
                                "The encoded data was not valid for encoding {}",
                                decoder.encoding.name().to_ascii_lowercase()
                            ),
                        ));
                    }
                } else {
                    let _ = state.decode_to_string(input, &mut out, last);
                }
                if stream {
                    decoder.state = Some(state);
                }
                Ok(out)
            },
        )?,
    )?;
    Ok(())
}
