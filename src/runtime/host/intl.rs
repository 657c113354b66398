//! The natives behind intl.js's `Intl`: locale negotiation and ICU4X's formatters, on the
//! CLDR data compiled into the `icu` crates (no data files, no network). intl.js validates
//! options as ECMA-402 says and hands each native the resolved locale and options; a native
//! builds one ICU4X formatter and returns an object of closures over it, which intl.js keeps
//! per locale and options (so `toLocaleString` in a loop builds its formatter once).

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;

use fixed_decimal::{Decimal, SignDisplay, SignedRoundingMode, UnsignedRoundingMode};
use icu_calendar::{Date, Gregorian};
use icu_collator::options::{AlternateHandling, CaseLevel, CollatorOptions, Strength};
use icu_collator::{Collator, CollatorPreferences};
use icu_datetime::fieldsets::builder::{DateFields, FieldSetBuilder, ZoneStyle};
use icu_datetime::fieldsets::enums::CompositeFieldSet;
use icu_datetime::options::{Alignment, Length, SubsecondDigits, TimePrecision, YearStyle};
use icu_datetime::{DateTimeFormatterPreferences, FixedCalendarDateTimeFormatter};
use icu_decimal::options::{
    CompactDecimalFormatterOptions, DecimalFormatterOptions, GroupingStrategy,
};
use icu_decimal::{CompactDecimalFormatter, DecimalFormatter};
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_experimental::dimension::currency::CurrencyType;
use icu_experimental::dimension::percent::formatter::PercentFormatter;
use icu_experimental::relativetime::options::Numeric;
use icu_experimental::relativetime::{RelativeTimeFormatter, RelativeTimeFormatterOptions};
use icu_list::options::{ListFormatterOptions, ListLength};
use icu_list::ListFormatter;
use icu_locale::{LocaleCanonicalizer, LocaleExpander};
use icu_locale_core::Locale;
use icu_plurals::{PluralCategory, PluralOperands, PluralRules};
use icu_segmenter::options::WordBreakInvariantOptions;
use icu_segmenter::{GraphemeClusterSegmenter, SentenceSegmenter, WordSegmenter};
use icu_time::zone::{IanaParser, IanaParserBorrowed, UtcOffset, ZoneNameTimestamp};
use icu_time::{Time, ZonedDateTime};
use rquickjs::{Ctx, Function, Object, Value};
use writeable::{Part, PartsWrite, Writeable};

/// Why a formatter could not be built: intl.js validated the options, so this is data ICU4X
/// lacks for a valid request (thrown as a RangeError).
#[derive(Debug, thiserror::Error)]
pub enum IntlError {
    #[error("Incorrect locale information provided")]
    Locale,
    #[error("Invalid currency code : {0}")]
    Currency(String),
    #[error("Invalid time zone specified: {0}")]
    TimeZone(String),
    #[error("no locale data for {0}: {1}")]
    Data(&'static str, String),
    #[error("Invalid option : {0}")]
    Option(String),
}

impl IntlError {
    fn throw(self, ctx: &Ctx<'_>) -> rquickjs::Error {
        rquickjs::Exception::throw_range(ctx, &self.to_string())
    }
}

type Result<T> = std::result::Result<T, IntlError>;

fn data(what: &'static str) -> impl FnOnce(icu_provider::DataError) -> IntlError {
    move |e| IntlError::Data(what, e.to_string())
}

fn locale(tag: &str) -> Result<Locale> {
    Locale::try_from_str(tag).map_err(|_| IntlError::Locale)
}

/// A well-formed tag in canonical form (`EN-us` → `en-US`, `iw` → `he`); `None` when it is
/// not a structurally valid BCP 47 tag.
pub fn canonicalize(tag: &str) -> Option<String> {
    // ECMA-402 takes language tags only: ICU4X also accepts the POSIX-ish `en_US`.
    if tag.contains('_') {
        return None;
    }
    let mut locale = Locale::try_from_str(tag).ok()?;
    LocaleCanonicalizer::new_extended().canonicalize(&mut locale);
    Some(locale.to_string())
}

/// Whether the compiled data speaks `tag` (no extensions) itself rather than through the root
/// locale: its language has data of its own, and its region has data of its own or goes with
/// the language or CLDR knows it (`de-DE`, `pt-BR`, `en-GB`, `fr-CH` yes; `de-XX` no).
fn available(tag: &str) -> bool {
    let Ok(locale) = Locale::try_from_str(tag) else {
        return false;
    };
    let id = &locale.id;
    // List patterns: every language has its own ("and"), unlike number symbols, which many
    // share with the root.
    let Some(list) = data_locale::<icu_list::provider::ListAndV1, _>(
        &locale,
        icu_list::provider::ListFormatterPatterns::WIDE,
        &icu_list::provider::Baked,
    ) else {
        return false;
    };
    let Some(region) = id.region else {
        return true;
    };
    let decimal = data_locale::<icu_decimal::provider::DecimalSymbolsV1, _>(
        &locale,
        Default::default(),
        &icu_decimal::provider::Baked,
    );
    if list.region == Some(region) || decimal.is_some_and(|d| d.region == Some(region)) {
        return true;
    }
    let mut likely = icu_locale_core::LanguageIdentifier::from(id.language);
    LocaleExpander::new_extended().maximize(&mut likely);
    if likely.region == Some(region) {
        return true;
    }
    // CLDR gives some regions a parent of their own (en-GB → en-001, es-MX → es-419).
    let mut chain = icu_locale::LocaleFallbacker::new()
        .for_config(Default::default())
        .fallback_for(icu_provider::DataLocale::from(&locale));
    chain.step();
    chain.get().region.is_some()
}

/// The locale whose `M` data the compiled data holds for `locale` after fallback, unless that
/// is the root (the language has none of its own).
fn data_locale<M, P>(
    locale: &Locale,
    attributes: &icu_provider::DataMarkerAttributes,
    provider: &P,
) -> Option<icu_provider::DataLocale>
where
    M: icu_provider::DataMarker,
    P: icu_provider::DataProvider<M>,
{
    use icu_provider::prelude::*;
    let data_locale = DataLocale::from(locale);
    let request = DataRequest {
        id: DataIdentifierBorrowed::for_marker_attributes_and_locale(attributes, &data_locale),
        ..Default::default()
    };
    let response = provider.load(request).ok()?;
    let found = response.metadata.locale.unwrap_or(data_locale);
    (!found.is_unknown()).then_some(found)
}

/// ECMA-402's LookupMatcher for one requested tag: the longest available prefix of it.
pub fn lookup(tag: &str) -> Option<String> {
    let mut candidate = tag.split("-u-").next().unwrap_or(tag).to_string();
    loop {
        if available(&candidate) {
            return Some(candidate);
        }
        let cut = candidate.rfind('-')?;
        candidate.truncate(cut);
        // A single-letter subtag (an extension's singleton) goes with the one after it.
        if candidate.len() >= 2 && candidate.as_bytes()[candidate.len() - 2] == b'-' {
            candidate.truncate(candidate.len() - 2);
        }
    }
}

/// A formatted string cut into typed pieces, as `formatToParts` returns them: each byte takes
/// the type of the narrowest part around it that `kind` names; the rest is `literal`.
struct Parts {
    text: String,
    spans: Vec<(usize, usize, Part)>,
}

impl std::fmt::Write for Parts {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.text.push_str(s);
        Ok(())
    }
}

impl PartsWrite for Parts {
    type SubPartsWrite = Self;
    fn with_part(
        &mut self,
        part: Part,
        mut f: impl FnMut(&mut Self::SubPartsWrite) -> std::fmt::Result,
    ) -> std::fmt::Result {
        let start = self.text.len();
        f(self)?;
        self.spans.push((start, self.text.len(), part));
        Ok(())
    }
}

fn to_parts(
    value: &impl Writeable,
    kind: impl Fn(&Part) -> Option<&'static str>,
) -> Vec<(String, String)> {
    let mut parts = Parts {
        text: String::new(),
        spans: Vec::new(),
    };
    // Writing to a String cannot fail.
    let _ = value.write_to_parts(&mut parts);
    let mut labels: Vec<(&'static str, usize)> = vec![("literal", usize::MAX); parts.text.len()];
    for (start, end, part) in &parts.spans {
        if let Some(name) = kind(part) {
            for label in &mut labels[*start..*end] {
                if end - start < label.1 {
                    *label = (name, end - start);
                }
            }
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut start = 0;
    for i in 1..=parts.text.len() {
        let changes = i == parts.text.len() || labels[i].0 != labels[start].0;
        if changes && parts.text.is_char_boundary(i) {
            out.push((
                labels[start].0.to_string(),
                parts.text[start..i].to_string(),
            ));
            start = i;
        }
    }
    out
}

fn decimal_part(part: &Part) -> Option<&'static str> {
    (part.category == "decimal").then_some(match part.value {
        "integer" => "integer",
        "fraction" => "fraction",
        "group" => "group",
        "decimal" => "decimal",
        "minusSign" => "minusSign",
        "plusSign" => "plusSign",
        _ => return None,
    })
}

/// Parts as JavaScript receives them: `[[type, value], …]`.
fn parts_js<'js>(ctx: &Ctx<'js>, parts: Vec<(String, String)>) -> rquickjs::Result<Value<'js>> {
    let array = rquickjs::Array::new(ctx.clone())?;
    for (i, (kind, value)) in parts.into_iter().enumerate() {
        array.set(i, vec![kind, value])?;
    }
    Ok(array.into_value())
}

/// How a number is rounded and padded before it is formatted (ECMA-402's digit options, as
/// intl.js resolved them).
#[derive(Clone, Copy)]
struct Digits {
    min_integer: i16,
    min_fraction: i16,
    max_fraction: i16,
    significant: Option<(i16, i16)>,
}

impl Digits {
    fn from_options(options: &Object<'_>) -> rquickjs::Result<Digits> {
        let number = |key: &str| -> rquickjs::Result<Option<i16>> {
            Ok(options.get::<_, Option<f64>>(key)?.map(|n| n as i16))
        };
        let significant = match (
            number("minimumSignificantDigits")?,
            number("maximumSignificantDigits")?,
        ) {
            (Some(min), Some(max)) => Some((min, max)),
            _ => None,
        };
        Ok(Digits {
            min_integer: number("minimumIntegerDigits")?.unwrap_or(1),
            min_fraction: number("minimumFractionDigits")?.unwrap_or(0),
            max_fraction: number("maximumFractionDigits")?.unwrap_or(3),
            significant,
        })
    }

    /// `value` rounded half away from zero (ECMA-402's default) and padded.
    fn apply(&self, mut value: Decimal) -> Decimal {
        let half_expand = SignedRoundingMode::Unsigned(UnsignedRoundingMode::HalfExpand);
        match self.significant {
            Some((min, max)) => {
                let top = value.absolute.nonzero_magnitude_start();
                value.round_with_mode(top - max + 1, half_expand);
                // Rounding up can add a digit (9.99 → 10.0).
                let top = value.absolute.nonzero_magnitude_start();
                value.absolute.trim_end();
                value.absolute.pad_end(top - min + 1);
            }
            None => {
                value.round_with_mode(-self.max_fraction, half_expand);
                value.absolute.trim_end();
                value.absolute.pad_end(-self.min_fraction);
            }
        }
        value.absolute.pad_start(self.min_integer);
        value
    }
}

/// A JavaScript number or a numeric string (a BigInt's digits) as an exact decimal.
fn decimal(value: &Value<'_>) -> Option<Decimal> {
    if let Some(n) = value.as_number() {
        if !n.is_finite() {
            return None;
        }
        // Rust prints the shortest digits that read back as the same double, never with an
        // exponent: the decimal JavaScript's ToString means.
        let mut d = Decimal::from_str(&format!("{n}")).ok()?;
        if n == 0.0 && n.is_sign_negative() {
            d.sign = fixed_decimal::Sign::Negative;
        }
        return Some(d);
    }
    Decimal::from_str(&value.as_string()?.to_string().ok()?).ok()
}

enum NumberStyle {
    Decimal(DecimalFormatter),
    Compact(CompactDecimalFormatter),
    /// ICU4X writes a percentage's digits without parts: the plain formatter gives them.
    Percent(PercentFormatter<DecimalFormatter>, DecimalFormatter),
    /// ICU4X pads an amount to its currency's digits: the plain formatter writes other digits.
    Currency(CurrencyFormatter<DecimalFormatter>, DecimalFormatter),
}

struct NumberFormat {
    style: NumberStyle,
    digits: Digits,
    sign: SignDisplay,
}

impl NumberFormat {
    fn new(
        tag: &str,
        options: &Object<'_>,
    ) -> rquickjs::Result<std::result::Result<Self, IntlError>> {
        let get = |key: &str| -> rquickjs::Result<String> {
            Ok(options.get::<_, Option<String>>(key)?.unwrap_or_default())
        };
        let style = get("style")?;
        let notation = get("notation")?;
        let grouping = match get("useGrouping")?.as_str() {
            "always" => GroupingStrategy::Always,
            "min2" => GroupingStrategy::Min2,
            "false" => GroupingStrategy::Never,
            _ => GroupingStrategy::Auto,
        };
        let sign = match get("signDisplay")?.as_str() {
            "never" => SignDisplay::Never,
            "always" => SignDisplay::Always,
            "exceptZero" => SignDisplay::ExceptZero,
            "negative" => SignDisplay::Negative,
            _ => SignDisplay::Auto,
        };
        let digits = Digits::from_options(options)?;
        let currency = get("currency")?;
        let display = get("currencyDisplay")?;
        let compact_display = get("compactDisplay")?;
        let build = || -> Result<NumberFormat> {
            let locale = locale(tag)?;
            let decimal_options = DecimalFormatterOptions::from(grouping);
            let style = match (style.as_str(), notation.as_str()) {
                ("currency", _) => {
                    let code = CurrencyType::try_from_str(&currency.to_ascii_lowercase())
                        .map_err(|_| IntlError::Currency(currency.clone()))?;
                    let prefs = (&locale).into();
                    let options = Default::default();
                    let formatter = match display.as_str() {
                        "code" => CurrencyFormatter::try_new_code(prefs, code, options),
                        "name" => CurrencyFormatter::try_new_name(prefs, code),
                        "narrowSymbol" => {
                            CurrencyFormatter::try_new_symbol_narrow(prefs, code, options)
                        }
                        _ => CurrencyFormatter::try_new_symbol(prefs, code, options),
                    };
                    NumberStyle::Currency(
                        formatter.map_err(data("currency"))?,
                        DecimalFormatter::try_new((&locale).into(), decimal_options)
                            .map_err(data("decimal"))?,
                    )
                }
                ("percent", _) => NumberStyle::Percent(
                    PercentFormatter::try_new((&locale).into(), Default::default())
                        .map_err(data("percent"))?,
                    DecimalFormatter::try_new((&locale).into(), decimal_options)
                        .map_err(data("decimal"))?,
                ),
                (_, "compact") => {
                    let prefs = (&locale).into();
                    let mut decimal_options = CompactDecimalFormatterOptions::default();
                    decimal_options.grouping_strategy = Some(grouping);
                    NumberStyle::Compact(
                        if compact_display == "long" {
                            CompactDecimalFormatter::try_new_long(prefs, decimal_options)
                        } else {
                            CompactDecimalFormatter::try_new_short(prefs, decimal_options)
                        }
                        .map_err(data("compact"))?,
                    )
                }
                _ => NumberStyle::Decimal(
                    DecimalFormatter::try_new((&locale).into(), decimal_options)
                        .map_err(data("decimal"))?,
                ),
            };
            Ok(NumberFormat {
                style,
                digits,
                sign,
            })
        };
        Ok(build())
    }

    /// The formatted number and its parts; `None` for a value that is not a finite number
    /// (intl.js formats NaN and ±Infinity itself).
    fn format(&self, value: &Value<'_>) -> Option<Vec<(String, String)>> {
        let mut value = decimal(value)?;
        if matches!(self.style, NumberStyle::Percent(..)) {
            value.multiply_pow10(2);
        }
        if !matches!(self.style, NumberStyle::Compact(_)) {
            value = self.digits.apply(value);
        }
        value.apply_sign_display(self.sign);
        Some(match &self.style {
            NumberStyle::Decimal(f) => to_parts(&f.format(&value), decimal_part),
            NumberStyle::Compact(f) => {
                name_literals(to_parts(&f.format(&value), decimal_part), "compact")
            }
            NumberStyle::Percent(f, digits) => {
                let whole = f.format(&value).to_string();
                let digits = to_parts(&digits.format(&value), decimal_part);
                let text: String = digits.iter().map(|(_, v)| v.as_str()).collect();
                match whole.find(&text) {
                    Some(at) => {
                        let mut parts = affix(&whole[..at], "percentSign");
                        parts.extend(digits);
                        parts.extend(affix(&whole[at + text.len()..], "percentSign"));
                        parts
                    }
                    None => vec![("literal".into(), whole)],
                }
            }
            NumberStyle::Currency(f, plain) => {
                let parts = name_literals(
                    to_parts(&f.format_fixed_decimal(&value), decimal_part),
                    "currency",
                );
                let shown: usize = parts
                    .iter()
                    .filter(|(kind, _)| kind == "fraction")
                    .map(|(_, digits)| digits.chars().count())
                    .sum();
                let wanted =
                    usize::try_from(-value.absolute.magnitude_range().start()).unwrap_or(0);
                if shown == wanted {
                    parts
                } else {
                    let mut amount = value.clone();
                    amount.sign = fixed_decimal::Sign::None;
                    replace_digits(parts, to_parts(&plain.format(&amount), decimal_part))
                }
            }
        })
    }
}

/// `parts` with the run from its first to its last digit part replaced by `digits`.
fn replace_digits(
    parts: Vec<(String, String)>,
    digits: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let is_digit = |kind: &str| matches!(kind, "integer" | "group" | "decimal" | "fraction");
    let first = parts.iter().position(|(kind, _)| is_digit(kind));
    let last = parts.iter().rposition(|(kind, _)| is_digit(kind));
    let (Some(first), Some(last)) = (first, last) else {
        return parts;
    };
    let mut out = parts[..first].to_vec();
    out.extend(digits);
    out.extend_from_slice(&parts[last + 1..]);
    out
}

/// The literal pieces of a formatted number around its digits named `kind` (`currency`,
/// `percentSign`, `compact`), less the spaces around them, which stay literal.
fn name_literals(parts: Vec<(String, String)>, kind: &str) -> Vec<(String, String)> {
    parts
        .into_iter()
        .flat_map(|(k, v)| {
            if k == "literal" {
                affix(&v, kind)
            } else {
                vec![(k, v)]
            }
        })
        .collect()
}

/// `text` as a `kind` part with its surrounding white space as literals.
fn affix(text: &str, kind: &str) -> Vec<(String, String)> {
    let core = text.trim_matches(char::is_whitespace);
    if core.is_empty() {
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![("literal".into(), text.into())]
        };
    }
    let start = text.len() - text.trim_start_matches(char::is_whitespace).len();
    let end = start + core.len();
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(("literal".into(), text[..start].to_string()));
    }
    parts.push((kind.to_string(), core.to_string()));
    if end < text.len() {
        parts.push(("literal".into(), text[end..].to_string()));
    }
    parts
}

fn category_name(category: PluralCategory) -> &'static str {
    match category {
        PluralCategory::Zero => "zero",
        PluralCategory::One => "one",
        PluralCategory::Two => "two",
        PluralCategory::Few => "few",
        PluralCategory::Many => "many",
        PluralCategory::Other => "other",
    }
}

/// A JavaScript timestamp (ms since the epoch) in a time zone, as ICU4X formats it.
fn zoned(
    ms: f64,
    zone: &jiff::tz::TimeZone,
    iana: &IanaParserBorrowed<'static>,
) -> Option<ZonedDateTime<Gregorian, icu_time::TimeZoneInfo<icu_time::zone::models::AtTime>>> {
    let timestamp = jiff::Timestamp::from_millisecond(ms as i64).ok()?;
    let local = timestamp.to_zoned_datetime(zone.clone());
    let date = Date::try_new_gregorian(local.year() as i32, local.month() as u8, local.day() as u8)
        .ok()?;
    let time = Time::try_new(
        local.hour() as u8,
        local.minute() as u8,
        local.second() as u8,
        local.subsec_nanosecond() as u32,
    )
    .ok()?;
    let offset = UtcOffset::try_from_seconds(local.offset().seconds()).ok();
    let id = zone
        .iana_name()
        .map(|name| iana.parse(name))
        .unwrap_or(icu_time::TimeZone::UNKNOWN);
    let zone = id
        .with_offset(offset)
        .with_zone_name_timestamp(ZoneNameTimestamp::from_epoch_seconds(timestamp.as_second()));
    Some(ZonedDateTime { date, time, zone })
}

/// The names ECMA-402 canonicalizes to `UTC`.
const UTC_NAMES: [&str; 10] = [
    "UTC",
    "Etc/UTC",
    "Etc/GMT",
    "GMT",
    "Etc/UCT",
    "UCT",
    "Etc/Universal",
    "Universal",
    "Etc/Zulu",
    "Zulu",
];

/// The IANA name `name` stands for (case-insensitively), as the tz database spells it.
pub fn time_zone(name: &str) -> Option<String> {
    if UTC_NAMES.iter().any(|utc| utc.eq_ignore_ascii_case(name)) {
        return Some("UTC".into());
    }
    let zone = jiff::tz::db().get(name).ok()?;
    zone.iana_name().map(String::from)
}

/// The host's time zone (ECMA-402's default), `UTC` when it has no IANA name.
pub fn default_time_zone() -> String {
    jiff::tz::TimeZone::try_system()
        .ok()
        .and_then(|zone| zone.iana_name().map(String::from))
        .and_then(|name| time_zone(&name))
        .unwrap_or_else(|| "UTC".into())
}

struct DateTimeFormat {
    /// Gregorian only: the other calendars' names and patterns would add most of a megabyte.
    formatter: FixedCalendarDateTimeFormatter<Gregorian, CompositeFieldSet>,
    zone: jiff::tz::TimeZone,
}

impl DateTimeFormat {
    fn new(tag: &str, options: &Object<'_>) -> rquickjs::Result<Result<Self>> {
        let get = |key: &str| -> rquickjs::Result<String> {
            Ok(options.get::<_, Option<String>>(key)?.unwrap_or_default())
        };
        let date_style = get("dateStyle")?;
        let time_style = get("timeStyle")?;
        let (weekday, year, month, day) =
            (get("weekday")?, get("year")?, get("month")?, get("day")?);
        let (hour, minute, second) = (get("hour")?, get("minute")?, get("second")?);
        let fractional: Option<u8> = options
            .get::<_, Option<f64>>("fractionalSecondDigits")?
            .map(|n| n as u8);
        let zone_name = get("timeZoneName")?;
        let zone_id = get("timeZone")?;
        let build = || -> Result<DateTimeFormat> {
            let mut builder = FieldSetBuilder::new();
            let length = |style: &str| match style {
                "full" | "long" => Length::Long,
                "medium" => Length::Medium,
                _ => Length::Short,
            };
            if !date_style.is_empty() || !time_style.is_empty() {
                if !date_style.is_empty() {
                    builder.date_fields = Some(if date_style == "full" {
                        DateFields::YMDE
                    } else {
                        DateFields::YMD
                    });
                    builder.length = Some(length(&date_style));
                    builder.year_style = Some(if date_style == "short" {
                        YearStyle::Auto
                    } else {
                        YearStyle::Full
                    });
                }
                if !time_style.is_empty() {
                    builder.time_precision = Some(if time_style == "short" {
                        TimePrecision::Minute
                    } else {
                        TimePrecision::Second
                    });
                    builder.zone_style = match time_style.as_str() {
                        "full" => Some(ZoneStyle::SpecificLong),
                        "long" => Some(ZoneStyle::SpecificShort),
                        _ => None,
                    };
                    if builder.length.is_none() {
                        builder.length = Some(length(&time_style));
                    }
                }
            } else {
                let (y, m, d, e) = (
                    !year.is_empty(),
                    !month.is_empty(),
                    !day.is_empty(),
                    !weekday.is_empty(),
                );
                builder.date_fields = match (y, m, d, e) {
                    (false, false, false, false) => None,
                    (true, false, false, false) => Some(DateFields::Y),
                    (false, true, false, false) => Some(DateFields::M),
                    (true, true, false, false) => Some(DateFields::YM),
                    (false, false, true, false) => Some(DateFields::D),
                    (false, true, true, false) => Some(DateFields::MD),
                    (false, false, false, true) => Some(DateFields::E),
                    (false, false, true, true) => Some(DateFields::DE),
                    (false, true, true, true) | (false, true, false, true) => Some(DateFields::MDE),
                    (true, _, _, true) => Some(DateFields::YMDE),
                    (true, _, _, false) => Some(DateFields::YMD),
                };
                // ICU4X sizes a whole pattern by one length: the month's width leads, then
                // the weekday's.
                let widest = if !month.is_empty() {
                    month.as_str()
                } else {
                    weekday.as_str()
                };
                builder.length = Some(match widest {
                    "long" => Length::Long,
                    "short" => Length::Medium,
                    _ => Length::Short,
                });
                // `2-digit` pads every numeric field (ICU4X pads all or none).
                if [&month, &day, &hour]
                    .iter()
                    .any(|field| *field == "2-digit")
                {
                    builder.alignment = Some(Alignment::Column);
                }
                if y {
                    builder.year_style = Some(if year == "2-digit" {
                        YearStyle::Auto
                    } else {
                        YearStyle::Full
                    });
                }
                builder.time_precision = match (
                    hour.is_empty(),
                    minute.is_empty(),
                    second.is_empty(),
                    fractional,
                ) {
                    (_, _, _, Some(n)) => Some(TimePrecision::Subsecond(match n {
                        1 => SubsecondDigits::S1,
                        2 => SubsecondDigits::S2,
                        _ => SubsecondDigits::S3,
                    })),
                    (_, _, false, None) => Some(TimePrecision::Second),
                    (_, false, true, None) => Some(TimePrecision::Minute),
                    (false, true, true, None) => Some(TimePrecision::Hour),
                    (true, true, true, None) => None,
                };
                builder.zone_style = match zone_name.as_str() {
                    "long" => Some(ZoneStyle::SpecificLong),
                    "short" => Some(ZoneStyle::SpecificShort),
                    "shortOffset" => Some(ZoneStyle::LocalizedOffsetShort),
                    "longOffset" => Some(ZoneStyle::LocalizedOffsetLong),
                    "shortGeneric" => Some(ZoneStyle::GenericShort),
                    "longGeneric" => Some(ZoneStyle::GenericLong),
                    _ => None,
                };
            }
            let field_set = builder
                .build_composite()
                .map_err(|e| IntlError::Option(format!("{e:?}")))?;
            let locale = locale(tag)?;
            let prefs = DateTimeFormatterPreferences::from(&locale);
            let formatter = FixedCalendarDateTimeFormatter::try_new(prefs, field_set)
                .map_err(|e| IntlError::Data("datetime", e.to_string()))?;
            let zone = if zone_id == "UTC" {
                jiff::tz::TimeZone::UTC
            } else {
                jiff::tz::db()
                    .get(&zone_id)
                    .map_err(|_| IntlError::TimeZone(zone_id.clone()))?
            };
            Ok(DateTimeFormat { formatter, zone })
        };
        Ok(build())
    }

    fn format(&self, ms: f64, iana: &IanaParserBorrowed<'static>) -> Option<Vec<(String, String)>> {
        let input = zoned(ms, &self.zone, iana)?;
        let formatted = self.formatter.format(&input);
        let parts = to_parts(&formatted, |part| {
            (part.category == "datetime").then_some(match part.value {
                "era" => "era",
                "year" | "extendedYear" => "year",
                "relatedYear" => "relatedYear",
                "yearName" => "yearName",
                "month" => "month",
                "day" => "day",
                "weekday" => "weekday",
                "dayPeriod" => "dayPeriod",
                "hour" => "hour",
                "minute" => "minute",
                "second" => "second",
                "timeZoneName" => "timeZoneName",
                _ => return None,
            })
        });
        // CLDR puts a narrow no-break space before AM/PM; V8 writes a plain space, which code
        // written against Node (and browsers) matches on.
        Some(
            parts
                .into_iter()
                .map(|(kind, text)| (kind, text.replace('\u{202f}', " ")))
                .collect(),
        )
    }
}

fn relative_formatter(
    locale: &Locale,
    style: &str,
    unit: &str,
    options: RelativeTimeFormatterOptions,
) -> Result<RelativeTimeFormatter> {
    let prefs = locale.into();
    macro_rules! pick {
        ($($unit:literal => $long:ident, $short:ident, $narrow:ident;)*) => {
            match (unit, style) {
                $(
                    ($unit, "short") => RelativeTimeFormatter::$short(prefs, options),
                    ($unit, "narrow") => RelativeTimeFormatter::$narrow(prefs, options),
                    ($unit, _) => RelativeTimeFormatter::$long(prefs, options),
                )*
                _ => return Err(IntlError::Option(format!("unit {unit}"))),
            }
        };
    }
    pick! {
        "second" => try_new_long_second, try_new_short_second, try_new_narrow_second;
        "minute" => try_new_long_minute, try_new_short_minute, try_new_narrow_minute;
        "hour" => try_new_long_hour, try_new_short_hour, try_new_narrow_hour;
        "day" => try_new_long_day, try_new_short_day, try_new_narrow_day;
        "week" => try_new_long_week, try_new_short_week, try_new_narrow_week;
        "month" => try_new_long_month, try_new_short_month, try_new_narrow_month;
        "quarter" => try_new_long_quarter, try_new_short_quarter, try_new_narrow_quarter;
        "year" => try_new_long_year, try_new_short_year, try_new_narrow_year;
    }
    .map_err(data("relative time"))
}

/// UTF-16 offsets of the segments of `text`: `[start, end, isWordLike]` each.
fn segments(granularity: &str, text: &str) -> Vec<(usize, usize, bool)> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out = Vec::new();
    let mut push = |breaks: &mut dyn Iterator<Item = (usize, bool)>| {
        let mut last = 0;
        for (at, word) in breaks {
            if at > last {
                out.push((last, at, word));
                last = at;
            }
        }
    };
    match granularity {
        "word" => {
            let segmenter =
                WordSegmenter::new_for_non_complex_scripts(WordBreakInvariantOptions::default());
            let mut breaks = segmenter.segment_utf16(&units);
            let mut iter = std::iter::from_fn(|| {
                let at = breaks.next()?;
                Some((at, breaks.is_word_like()))
            });
            push(&mut iter);
        }
        "sentence" => {
            let segmenter = SentenceSegmenter::new(Default::default());
            push(&mut segmenter.segment_utf16(&units).map(|at| (at, false)));
        }
        _ => {
            let segmenter = GraphemeClusterSegmenter::new();
            push(&mut segmenter.segment_utf16(&units).map(|at| (at, false)));
        }
    }
    out
}

/// Whether `tag`'s own clock is the 12-hour one: its formatted 13:00 does not say "13".
fn hour_cycle_12(tag: &str) -> bool {
    let Ok(locale) = locale(tag) else {
        return false;
    };
    let field_set = icu_datetime::fieldsets::T::hm();
    let Ok(formatter) = icu_datetime::NoCalendarFormatter::try_new((&locale).into(), field_set)
    else {
        return false;
    };
    let Ok(time) = Time::try_new(13, 0, 0, 0) else {
        return false;
    };
    !formatter.format(&time).to_string().contains("13")
}

/// The natives intl.js receives.
pub fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "canonicalize",
        Function::new(ctx.clone(), |tag: String| canonicalize(&tag))?,
    )?;
    natives.set(
        "lookup",
        Function::new(ctx.clone(), |tag: String| lookup(&tag))?,
    )?;
    natives.set(
        "timeZone",
        Function::new(ctx.clone(), |name: String| time_zone(&name))?,
    )?;
    natives.set(
        "hourCycle12",
        Function::new(ctx.clone(), |tag: String| hour_cycle_12(&tag))?,
    )?;
    natives.set(
        "defaultTimeZone",
        Function::new(ctx.clone(), default_time_zone)?,
    )?;
    natives.set(
        "numberFormat",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, tag: String, options: Object<'js>| -> rquickjs::Result<Function<'js>> {
                let format = NumberFormat::new(&tag, &options)?.map_err(|e| e.throw(&ctx))?;
                Function::new(
                    ctx.clone(),
                    move |ctx: Ctx<'js>, value: Value<'js>| match format.format(&value) {
                        Some(parts) => parts_js(&ctx, parts),
                        None => Ok(Value::new_null(ctx)),
                    },
                )
            },
        )?,
    )?;
    natives.set(
        "pluralRules",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             tag: String,
             kind: String,
             options: Object<'js>|
             -> rquickjs::Result<Object<'js>> {
                let digits = Digits::from_options(&options)?;
                let built = locale(&tag).and_then(|locale| {
                    let prefs = (&locale).into();
                    if kind == "ordinal" {
                        PluralRules::try_new_ordinal(prefs)
                    } else {
                        PluralRules::try_new_cardinal(prefs)
                    }
                    .map_err(data("plural rules"))
                });
                let rules = std::rc::Rc::new(built.map_err(|e| e.throw(&ctx))?);
                let object = Object::new(ctx.clone())?;
                let categories: Vec<&str> = rules.categories().map(category_name).collect();
                object.set("categories", categories)?;
                object.set(
                    "select",
                    Function::new(ctx.clone(), move |value: Value<'js>| {
                        let value = decimal(&value).map(|d| digits.apply(d))?;
                        Some(category_name(
                            rules.category_for(PluralOperands::from(&value)),
                        ))
                    })?,
                )?;
                Ok(object)
            },
        )?,
    )?;
    natives.set(
        "dateTimeFormat",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, tag: String, options: Object<'js>| -> rquickjs::Result<Function<'js>> {
                let format = DateTimeFormat::new(&tag, &options)?.map_err(|e| e.throw(&ctx))?;
                let iana = IanaParser::new();
                Function::new(ctx.clone(), move |ctx: Ctx<'js>, ms: f64| {
                    match format.format(ms, &iana) {
                        Some(parts) => parts_js(&ctx, parts),
                        None => Ok(Value::new_null(ctx)),
                    }
                })
            },
        )?,
    )?;
    natives.set(
        "relativeTimeFormat",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             tag: String,
             style: String,
             numeric: String|
             -> rquickjs::Result<Function<'js>> {
                let locale = locale(&tag).map_err(|e| e.throw(&ctx))?;
                let options =
                    RelativeTimeFormatterOptions::default().with_numeric(if numeric == "auto" {
                        Numeric::Auto
                    } else {
                        Numeric::Always
                    });
                // One ICU4X formatter per unit, built on first use.
                let units: RefCell<HashMap<String, RelativeTimeFormatter>> = RefCell::default();
                Function::new(
                    ctx.clone(),
                    move |ctx: Ctx<'js>,
                          value: Value<'js>,
                          unit: String|
                          -> rquickjs::Result<Value<'js>> {
                        let Some(value) = decimal(&value) else {
                            return Ok(Value::new_null(ctx));
                        };
                        let mut units = units.borrow_mut();
                        if !units.contains_key(&unit) {
                            let formatter = relative_formatter(&locale, &style, &unit, options)
                                .map_err(|e| e.throw(&ctx))?;
                            units.insert(unit.clone(), formatter);
                        }
                        let Some(formatter) = units.get(&unit) else {
                            return Ok(Value::new_null(ctx));
                        };
                        let parts = to_parts(&formatter.format(value), decimal_part);
                        parts_js(&ctx, parts)
                    },
                )
            },
        )?,
    )?;
    natives.set(
        "collator",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             tag: String,
             sensitivity: String,
             punctuation: bool|
             -> rquickjs::Result<Function<'js>> {
                let mut options = CollatorOptions::default();
                let (strength, case) = match sensitivity.as_str() {
                    "base" => (Strength::Primary, CaseLevel::Off),
                    "accent" => (Strength::Secondary, CaseLevel::Off),
                    "case" => (Strength::Primary, CaseLevel::On),
                    _ => (Strength::Tertiary, CaseLevel::Off),
                };
                options.strength = Some(strength);
                options.case_level = Some(case);
                if punctuation {
                    options.alternate_handling = Some(AlternateHandling::Shifted);
                }
                let collator = locale(&tag)
                    .and_then(|locale| {
                        Collator::try_new(CollatorPreferences::from(&locale), options)
                            .map_err(data("collation"))
                    })
                    .map_err(|e| e.throw(&ctx))?;
                Function::new(ctx.clone(), move |a: String, b: String| {
                    collator.compare(&a, &b) as i32
                })
            },
        )?,
    )?;
    natives.set(
        "listFormat",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             tag: String,
             kind: String,
             style: String|
             -> rquickjs::Result<Function<'js>> {
                let length = match style.as_str() {
                    "short" => ListLength::Short,
                    "narrow" => ListLength::Narrow,
                    _ => ListLength::Wide,
                };
                let options = ListFormatterOptions::default().with_length(length);
                let formatter = locale(&tag)
                    .and_then(|locale| {
                        let prefs = (&locale).into();
                        match kind.as_str() {
                            "disjunction" => ListFormatter::try_new_or(prefs, options),
                            "unit" => ListFormatter::try_new_unit(prefs, options),
                            _ => ListFormatter::try_new_and(prefs, options),
                        }
                        .map_err(data("list"))
                    })
                    .map_err(|e| e.throw(&ctx))?;
                Function::new(ctx.clone(), move |ctx: Ctx<'js>, items: Vec<String>| {
                    let parts = to_parts(&formatter.format(items.iter()), |part| {
                        (part.category == "list" && part.value == "element").then_some("element")
                    });
                    parts_js(&ctx, parts)
                })
            },
        )?,
    )?;
    natives.set(
        "segment",
        Function::new(ctx.clone(), |granularity: String, text: String| {
            segments(&granularity, &text)
                .into_iter()
                .map(|(start, end, word)| vec![start as f64, end as f64, f64::from(u8::from(word))])
                .collect::<Vec<_>>()
        })?,
    )?;
    Ok(natives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_resolve_to_what_the_data_speaks() {
        assert_eq!(canonicalize("EN-us").as_deref(), Some("en-US"));
        assert_eq!(canonicalize("en_US"), None);
        assert_eq!(lookup("de-DE").as_deref(), Some("de-DE"));
        assert_eq!(lookup("pt-BR").as_deref(), Some("pt-BR"));
        assert_eq!(lookup("en-GB").as_deref(), Some("en-GB"));
        assert_eq!(lookup("de-XX").as_deref(), Some("de"));
        assert_eq!(lookup("fr-FR-u-nu-latn").as_deref(), Some("fr-FR"));
        assert_eq!(lookup("fr-CH").as_deref(), Some("fr-CH"));
        assert_eq!(lookup("ja-JP").as_deref(), Some("ja-JP"));
        assert_eq!(lookup("en").as_deref(), Some("en"));
        assert_eq!(lookup("xx"), None);
    }

    #[test]
    fn segments_count_utf16_units() {
        assert_eq!(
            segments("grapheme", "a👍🏽b"),
            vec![(0, 1, false), (1, 5, false), (5, 6, false)]
        );
        let words: Vec<bool> = segments("word", "Hi, you").iter().map(|s| s.2).collect();
        assert_eq!(words, vec![true, false, false, true]);
    }
}
