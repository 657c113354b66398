//! `Intl` and the `toLocale*String` methods on ICU4X's CLDR data: what a function formats in
//! each locale, compared with Node 20 (20.20: ICU 78.2, CLDR 48; ICU4X 2.4 ships CLDR 49). Where
//! the two differ, ICU4X builds a pattern differently from ICU4C (it picks from a few lengths where
//! ICU4C matches a skeleton), and these snapshots pin ICU4X's:
//! - de and ja numeric dates: ICU4X's short date pattern pads (`04.07.2025`, `2025/01/15`); Node
//!   writes `4.7.2025`, `2025/1/15`.
//! - es `dateStyle: 'full'` with a time: ICU4X glues with `a las`, Node with a comma.
//! - `pluralCategories` come in the specification's order (zero one two few many other).
//! - Dates are Gregorian in every locale (Node writes Thai dates in the Buddhist calendar).
//!
//! As V8 does, dates and times are written with a space where CLDR has a narrow no-break space
//! (`3:05 PM`); numbers keep theirs (`1\u{202f}234,50 €` in French).

use crate::support::{Project, Server};

const FIXTURES: [(&str, &str); 5] = [
    (
        "functions/locales.ts",
        include_str!("../fixtures/intl/locales.ts"),
    ),
    (
        "functions/words.ts",
        include_str!("../fixtures/intl/words.ts"),
    ),
    (
        "functions/methods.ts",
        include_str!("../fixtures/intl/methods.ts"),
    ),
    (
        "functions/errors.ts",
        include_str!("../fixtures/intl/errors.ts"),
    ),
    (
        "functions/chosen.ts",
        include_str!("../fixtures/intl/chosen.ts"),
    ),
];

/// The text a fixture function returns, its no-break spaces made visible.
fn text(server: &Server, path: &str) -> String {
    let reply = server.get(path);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_str()
        .unwrap_or_default()
        .replace('\u{a0}', "<nbsp>")
        .replace('\u{202f}', "<nnbsp>")
}

fn start() -> (Project, Server) {
    let project = Project::with_files(&FIXTURES);
    // The host's zone is the default one: pinned so that the record does not depend on the machine.
    let server = Server::start_with_env(&project, &[], &[("TZ", "America/Sao_Paulo")]);
    (project, server)
}

#[test]
fn a_price_and_a_date_read_as_each_locale_writes_them() {
    let (_project, server) = start();
    insta::assert_snapshot!(text(&server, "/locales"), @r#"
    en-US | €1,234.50 | January 15, 2025 | Wednesday, January 15, 2025 at 3:05 PM
    de-DE | 1.234,50<nbsp>€ | 15. Januar 2025 | Mittwoch, 15. Januar 2025 um 15:05
    fr-FR | 1<nnbsp>234,50<nbsp>€ | 15 janvier 2025 | mercredi 15 janvier 2025 à 15:05
    ja-JP | €1,234.50 | 2025年1月15日 | 2025年1月15日水曜日 15:05
    pt-BR | €<nbsp>1.234,50 | 15 de janeiro de 2025 | quarta-feira, 15 de janeiro de 2025 às 15:05
    es-ES | 1234,50<nbsp>€ | 15 de enero de 2025 | miércoles, 15 de enero de 2025 a las 15:05
    "#);
}

#[test]
fn plurals_relative_times_collation_lists_and_segments_follow_the_locale() {
    let (_project, server) = start();
    insta::assert_snapshot!(text(&server, "/words"), @r#"
    cardinal: 0=other 1=one 2=other 1.5=other
    ordinal: 1st 2nd 3rd 4th 11th 12th 13th 21st 22nd 101st
    fr cardinal: one one other
    categories: zero one two few many other
    relative: yesterday | today | in 2 weeks | 1 day ago
    relative de/es/ja: vor 3 Stunden | anteayer | 5 分後
    collate de: apfel Äpfel Bär Zebra zoo
    collate sv: a z å ö
    numeric: File1 file2 file10
    sensitivity: base 0 accent -1 case -1
    list: red, green, and blue | tea or coffee | rot, grün und blau | 赤、緑
    graphemes: 0:é 2:👍🏽 6:!
    words: Don't|stop|42|times
    "#);
}

#[test]
fn to_locale_string_methods_take_locales_and_options_and_default_to_en_us() {
    let (_project, server) = start();
    insta::assert_snapshot!(text(&server, "/methods"), @r#"
    number: 1,234,567.891 | 1.234.567,891 | 25,6<nbsp>%
    currency: ￥1,235 | R$<nbsp>99,00 | 2.00 euros | -USD<nbsp>5.50
    currency digits: $13 | ￥1,234.50 | KWD<nbsp>1.5
    digits: 1.01 | 005 | 1,200 | +42 | 12345
    compact: 1.2M | 1.2 million | 1,5<nbsp>k
    bigint: 123.456.789.012.345.678.901.234.567.890
    special: NaN | -∞
    date: 7/4/2025, 6:30:00 PM | 04.07.2025 | 18:30:00
    zones: 7/4/2025, 2:30:00 PM EDT | 1/4/2025, 1:30:00 PM EST | 00:00
    components: Friday, July 4, 2025 | 4 jul | 18:30:00
    padded: 07/04/2025 | 09:03 AM
    invalid date: Invalid Date
    localeCompare: -1 -1 1 0
    array: 1.234,5,04.07.2025, 18:30:00
    "#);
}

#[test]
fn bad_locales_and_options_throw_what_v8_throws() {
    let (_project, server) = start();
    insta::assert_snapshot!(text(&server, "/errors"), @r#"
    RangeError: Value bogus out of range for Intl.NumberFormat options property style
    TypeError: Currency code is required with currency style.
    RangeError: Invalid currency code : US
    RangeError: maximumFractionDigits value is out of range.
    RangeError: maximumFractionDigits value is out of range.
    RangeError: Incorrect locale information provided
    TypeError: Language ID should be string or object.
    RangeError: Invalid time zone specified: Mars/Base
    TypeError: Can't set option hour when dateStyle is used
    RangeError: Value huge out of range for Intl.DateTimeFormat options property dateStyle
    RangeError: Invalid time value
    RangeError: Value x out of range for Intl.PluralRules options property type
    TypeError: Constructor Intl.PluralRules requires 'new'
    RangeError: Invalid unit argument for Intl.RelativeTimeFormat.prototype.format() 'fortnight'
    RangeError: Value need to be finite number for Intl.RelativeTimeFormat.prototype.format()
    TypeError: Iterable yielded 1 which is not a string
    RangeError: Value x out of range for Intl.Collator options property sensitivity
    RangeError: Value line out of range for Intl.Segmenter options property granularity
    "#);
}

#[test]
fn parts_and_resolved_options_say_what_was_chosen_and_missing_locales_fall_back() {
    let (_project, server) = start();
    insta::assert_snapshot!(text(&server, "/chosen"), @r#"
    number parts: minusSign(-) integer(1) group(.) integer(234) decimal(,) fraction(50) literal(<nbsp>) currency(€)
    percent parts: integer(42) percentSign(%)
    date parts: month(Mar) literal( ) day(9) literal(, ) year(2025) literal(, ) hour(7) literal(:) minute(04) literal( ) dayPeriod(AM)
    list parts: element(a) literal( and ) element(b)
    relative parts: literal(in ) integer(3) literal( days)
    fallback: de-XX->de pt-BR->pt-BR en-GB->en-GB fr-CH->fr-CH zz->en-US ja-JP-u-ca-japanese->ja-JP
    list of locales: fr-CA
    supported: de-DE,ja
    canonical: en-US,de-DE
    number options: {"locale":"en","numberingSystem":"latn","style":"currency","currency":"JPY","currencyDisplay":"symbol","currencySign":"standard","minimumIntegerDigits":1,"minimumFractionDigits":0,"maximumFractionDigits":0,"useGrouping":"auto","notation":"standard","signDisplay":"auto","roundingMode":"halfExpand","roundingIncrement":1,"trailingZeroDisplay":"auto","roundingPriority":"auto"}
    date options: {"locale":"en","calendar":"gregory","numberingSystem":"latn","timeZone":"America/New_York","hourCycle":"h12","hour12":true,"hour":"numeric"}
    clocks: en h12 ja h23 de-u-hc-h12 7:04:05 AM
    calendar: th 9 มี.ค. 2025 (gregory)
    default time zone: America/Sao_Paulo
    tags: [object Intl] [object Intl.Collator]
    "#);
}
