// ECMA-402 `Intl` for the flux runtime, and the locale-sensitive `toLocale*String` methods.
// Evaluated as a plain script after web.js: a function the host calls with its natives
// (src/runtime/host/intl.rs), which format on ICU4X's compiled CLDR data. This file does what
// the specification puts before formatting: locale lists, option reading and validation (with
// V8's messages), resolvedOptions. The default locale is en-US; the default time zone is the
// host's. Formatters are built on first use and kept per locale and options in this context.
((natives) => {
  'use strict';
  const { Object, Array, TypeError, RangeError, Symbol, WeakMap, Map, String, Number, Math, Date, JSON } = globalThis;
  const DEFAULT_LOCALE = 'en-US';

  const P = new WeakMap();
  const slot = (o, kind, method) => {
    const s = P.get(o);
    if (s === undefined || s.kind !== kind) {
      throw new TypeError(`Method Intl.${kind}.prototype.${method} called on incompatible receiver ${typeof o === 'object' && o !== null ? '#<Object>' : String(o)}`);
    }
    return s;
  };
  const method = (C, name, fn) =>
    Object.defineProperty(C.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
  const tag = (C, name) =>
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
  const requireNew = (target, name) => {
    if (target === undefined) throw new TypeError(`Constructor Intl.${name} requires 'new'`);
  };

  // ------------------------------------------------------------------ locales

  // Native formatters and resolved locales per kind, locale and options, built once per
  // context (and dropped all at once should a function make too many different ones).
  const cache = new Map();
  const cached = (key, build) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = build();
      if (cache.size >= 512) cache.clear();
      cache.set(key, value);
    }
    return value;
  };

  // CanonicalizeLocaleList.
  const canonicalLocales = (locales) => {
    if (locales === undefined) return [];
    const list = typeof locales === 'string' ? [locales] : Object(locales);
    const length = Math.min(Math.max(Math.trunc(Number(list.length)) || 0, 0), Number.MAX_SAFE_INTEGER);
    const seen = [];
    for (let k = 0; k < length; k++) {
      if (!(k in list)) continue;
      const value = list[k];
      if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) {
        throw new TypeError('Language ID should be string or object.');
      }
      const canonical = natives.canonicalize(String(value));
      if (canonical == null) throw new RangeError('Incorrect locale information provided');
      if (!seen.includes(canonical)) seen.push(canonical);
    }
    return seen;
  };

  // The Unicode extension keywords of a tag (`-u-kn-true-hc-h23` → { kn: 'true', hc: 'h23' }).
  const extensions = (tag) => {
    const out = {};
    const at = tag.indexOf('-u-');
    if (at < 0) return out;
    const subtags = tag.slice(at + 3).split('-');
    let key = null;
    for (const subtag of subtags) {
      if (subtag.length === 1) break;
      if (subtag.length === 2) {
        key = subtag;
        out[key] = 'true';
      } else if (key !== null) {
        out[key] = out[key] === 'true' ? subtag : `${out[key]}-${subtag}`;
      }
    }
    return out;
  };

  // ResolveLocale with the lookup matcher: the first requested locale the data speaks (or a
  // shorter form of it), else the default. `keys` are the extension keywords the service reads.
  const resolveLocale = (locales, keys = []) => {
    // The common call names one locale (or none): its answer is kept.
    if (locales === undefined || typeof locales === 'string') {
      return cached(`RL ${locales} ${keys}`, () => resolveLocaleList(locales, keys));
    }
    return resolveLocaleList(locales, keys);
  };
  const resolveLocaleList = (locales, keys) => {
    for (const requested of canonicalLocales(locales)) {
      const found = natives.lookup(requested);
      if (found != null) {
        const ext = extensions(requested);
        const kept = keys.filter((key) => ext[key] !== undefined);
        return { locale: found, ext, keys: kept };
      }
    }
    return { locale: DEFAULT_LOCALE, ext: {}, keys: [] };
  };

  const supportedLocalesOf = (locales, options) => {
    const list = canonicalLocales(locales);
    if (options !== undefined) {
      getOption(Object(options), 'localeMatcher', 'Intl.supportedLocalesOf', ['lookup', 'best fit'], 'best fit');
    }
    return list.filter((tag) => natives.lookup(tag) != null);
  };

  // ------------------------------------------------------------------ options

  const toOptions = (options, name) => {
    if (options === undefined) return Object.create(null);
    if (options === null) throw new TypeError(`${name} called on null or undefined`);
    return Object(options);
  };

  // GetOption for strings (values listed) and booleans (values null).
  const getOption = (options, property, service, values, fallback) => {
    let value = options[property];
    if (value === undefined) return fallback;
    if (values === 'boolean') return Boolean(value);
    value = String(value);
    if (values && !values.includes(value)) {
      throw new RangeError(`Value ${value} out of range for ${service} options property ${property}`);
    }
    return value;
  };

  const getNumberOption = (options, property, min, max, fallback) => {
    let value = options[property];
    if (value === undefined) return fallback;
    value = Number(value);
    if (Number.isNaN(value) || value < min || value > max) throw new RangeError(`${property} value is out of range.`);
    return Math.floor(value);
  };

  // ISO 4217 minor units that are not 2 (ECMA-402's CurrencyDigits).
  const CURRENCY_DIGITS = {
    BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0,
    KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0, VUV: 0, XAF: 0,
    XOF: 0, XPF: 0,
  };

  // SetNumberFormatDigitOptions (fraction and significant digits; rounding is half-expand).
  const digitOptions = (options, minDefault, maxDefault, notation) => {
    const minimumIntegerDigits = getNumberOption(options, 'minimumIntegerDigits', 1, 21, 1);
    const mnfd = options.minimumFractionDigits;
    const mxfd = options.maximumFractionDigits;
    const mnsd = options.minimumSignificantDigits;
    const mxsd = options.maximumSignificantDigits;
    const out = { minimumIntegerDigits };
    if (mnsd !== undefined || mxsd !== undefined) {
      out.minimumSignificantDigits = getNumberOption(options, 'minimumSignificantDigits', 1, 21, 1);
      out.maximumSignificantDigits = getNumberOption(options, 'maximumSignificantDigits', out.minimumSignificantDigits, 21, 21);
      return out;
    }
    if (mnfd !== undefined || mxfd !== undefined) {
      let min = getNumberOption(options, 'minimumFractionDigits', 0, 100, undefined);
      let max = getNumberOption(options, 'maximumFractionDigits', 0, 100, undefined);
      if (min === undefined) min = Math.min(minDefault, max);
      else if (max === undefined) max = Math.max(maxDefault, min);
      else if (min > max) throw new RangeError('maximumFractionDigits value is out of range.');
      out.minimumFractionDigits = min;
      out.maximumFractionDigits = max;
      return out;
    }
    if (notation === 'compact') return out;
    out.minimumFractionDigits = minDefault;
    out.maximumFractionDigits = maxDefault;
    return out;
  };

  const joinParts = (parts) => {
    let s = '';
    for (let i = 0; i < parts.length; i++) s += parts[i][1];
    return s;
  };
  const partObjects = (parts) => parts.map(([type, value]) => ({ type, value }));

  // ------------------------------------------------------------------ NumberFormat

  const NF = 'Intl.NumberFormat';
  const numberFormatSlot = (locales, options) => {
    options = toOptions(options, NF);
    getOption(options, 'localeMatcher', NF, ['lookup', 'best fit'], 'best fit');
    const { locale } = resolveLocale(locales);
    const style = getOption(options, 'style', NF, ['decimal', 'percent', 'currency', 'unit'], 'decimal');
    if (style === 'unit') throw new RangeError('Intl.NumberFormat: style "unit" is not supported by flux');
    let currency = options.currency;
    if (currency !== undefined) {
      currency = String(currency);
      if (!/^[A-Za-z]{3}$/.test(currency)) throw new RangeError(`Invalid currency code : ${currency}`);
      currency = currency.toUpperCase();
    }
    const currencyDisplay = getOption(options, 'currencyDisplay', NF, ['code', 'symbol', 'narrowSymbol', 'name'], 'symbol');
    const currencySign = getOption(options, 'currencySign', NF, ['standard', 'accounting'], 'standard');
    if (style === 'currency' && currency === undefined) throw new TypeError('Currency code is required with currency style.');
    const notation = getOption(options, 'notation', NF, ['standard', 'scientific', 'engineering', 'compact'], 'standard');
    if (notation === 'scientific' || notation === 'engineering') {
      throw new RangeError(`Intl.NumberFormat: notation "${notation}" is not supported by flux`);
    }
    let minDefault = 0;
    let maxDefault = 3;
    if (style === 'currency') {
      minDefault = maxDefault = currency in CURRENCY_DIGITS ? CURRENCY_DIGITS[currency] : 2;
    } else if (style === 'percent') {
      maxDefault = 0;
    }
    const digits = digitOptions(options, minDefault, maxDefault, notation);
    const compactDisplay = getOption(options, 'compactDisplay', NF, ['short', 'long'], 'short');
    let useGrouping = options.useGrouping;
    if (useGrouping === undefined) useGrouping = notation === 'compact' ? 'min2' : 'auto';
    else if (useGrouping === true || useGrouping === 'true') useGrouping = 'always';
    else if (!useGrouping || useGrouping === 'false') useGrouping = false;
    else {
      useGrouping = String(useGrouping);
      if (!['min2', 'auto', 'always'].includes(useGrouping)) {
        throw new RangeError(`Value ${useGrouping} out of range for ${NF} options property useGrouping`);
      }
    }
    const signDisplay = getOption(options, 'signDisplay', NF, ['auto', 'never', 'always', 'exceptZero', 'negative'], 'auto');
    const resolved = { locale, numberingSystem: 'latn', style };
    if (style === 'currency') Object.assign(resolved, { currency, currencyDisplay, currencySign });
    Object.assign(resolved, digits, { useGrouping, notation });
    if (notation === 'compact') resolved.compactDisplay = compactDisplay;
    Object.assign(resolved, { signDisplay, roundingMode: 'halfExpand', roundingIncrement: 1, trailingZeroDisplay: 'auto', roundingPriority: 'auto' });
    const native = { ...resolved, useGrouping: String(useGrouping) };
    const key = `NF ${JSON.stringify(native)}`;
    return { kind: 'NumberFormat', resolved, format: cached(key, () => natives.numberFormat(locale, native)), bound: undefined };
  };

  // The value NumberFormat formats: a Number, or a BigInt's digits.
  const toNumeric = (value) => {
    if (typeof value === 'bigint') return String(value);
    if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) && value.trim().replace(/^-/, '').length > 15) return value.trim();
    return Number(value);
  };

  const formatNumberParts = (s, value) => {
    const x = toNumeric(value);
    const parts = s.format(x);
    if (parts !== null) return parts;
    // NaN and infinities: ICU4X's decimals are finite.
    const negative = x < 0;
    const body = Number.isNaN(x) ? [['nan', 'NaN']] : [['infinity', '∞']];
    let sign = negative ? [['minusSign', '-']] : [];
    if (!negative && !Number.isNaN(x) && (s.resolved.signDisplay === 'always' || s.resolved.signDisplay === 'exceptZero')) sign = [['plusSign', '+']];
    if (s.resolved.signDisplay === 'never') sign = [];
    const withSign = [...sign, ...body];
    if (s.resolved.style === 'percent') return [...withSign, ['percentSign', '%']];
    if (s.resolved.style === 'currency') return [['currency', s.resolved.currency], ['literal', '\u00a0'], ...withSign];
    return withSign;
  };

  function NumberFormat(locales, options) {
    const target = new.target === undefined ? NumberFormat : new.target;
    const self = Object.create(target.prototype);
    P.set(self, numberFormatSlot(locales, options));
    return self;
  }
  Object.defineProperty(NumberFormat.prototype, 'format', {
    get() {
      const s = slot(this, 'NumberFormat', 'format');
      if (s.bound === undefined) s.bound = (value) => joinParts(formatNumberParts(s, value));
      return s.bound;
    },
    configurable: true,
  });
  method(NumberFormat, 'formatToParts', function formatToParts(value) {
    return partObjects(formatNumberParts(slot(this, 'NumberFormat', 'formatToParts'), value));
  });
  method(NumberFormat, 'resolvedOptions', function resolvedOptions() {
    return { ...slot(this, 'NumberFormat', 'resolvedOptions').resolved };
  });
  tag(NumberFormat, 'Intl.NumberFormat');

  // ------------------------------------------------------------------ DateTimeFormat

  const DTF = 'Intl.DateTimeFormat';
  const COMPONENTS = [
    ['weekday', ['narrow', 'short', 'long']],
    ['era', ['narrow', 'short', 'long']],
    ['year', ['2-digit', 'numeric']],
    ['month', ['2-digit', 'numeric', 'narrow', 'short', 'long']],
    ['day', ['2-digit', 'numeric']],
    ['dayPeriod', ['narrow', 'short', 'long']],
    ['hour', ['2-digit', 'numeric']],
    ['minute', ['2-digit', 'numeric']],
    ['second', ['2-digit', 'numeric']],
    ['fractionalSecondDigits', null],
    ['timeZoneName', ['short', 'long', 'shortOffset', 'longOffset', 'shortGeneric', 'longGeneric']],
  ];
  const STYLES = ['full', 'long', 'medium', 'short'];
  let hostZone;
  const hostTimeZone = () => {
    if (hostZone === undefined) hostZone = natives.defaultTimeZone();
    return hostZone;
  };

  // CreateDateTimeFormat; `required`/`defaults` are ToDateTimeOptions' ('date', 'time', 'any'
  // and 'date', 'time', 'all') for the toLocale*String methods.
  const dateTimeFormatSlot = (locales, options, required = 'any', defaults = 'date') => {
    options = toOptions(options, DTF);
    getOption(options, 'localeMatcher', DTF, ['lookup', 'best fit'], 'best fit');
    const { locale, ext } = resolveLocale(locales, ['hc']);
    const calendar = options.calendar;
    if (calendar !== undefined && String(calendar) !== 'gregory') {
      throw new RangeError(`Intl.DateTimeFormat: calendar "${String(calendar)}" is not supported by flux`);
    }
    const hour12 = options.hour12 === undefined ? undefined : Boolean(options.hour12);
    let hourCycle = getOption(options, 'hourCycle', DTF, ['h11', 'h12', 'h23', 'h24'], undefined);
    if (hour12 !== undefined) hourCycle = undefined;
    if (hourCycle === undefined && hour12 === undefined && ['h11', 'h12', 'h23', 'h24'].includes(ext.hc)) hourCycle = ext.hc;
    let timeZone = options.timeZone;
    if (timeZone === undefined) timeZone = hostTimeZone();
    else {
      const name = cached(`TZ ${timeZone}`, () => natives.timeZone(String(timeZone)));
      if (name == null) throw new RangeError(`Invalid time zone specified: ${String(timeZone)}`);
      timeZone = name;
    }
    const fields = {};
    for (const [name, values] of COMPONENTS) {
      fields[name] = name === 'fractionalSecondDigits'
        ? getNumberOption(options, name, 1, 3, undefined)
        : getOption(options, name, DTF, values, undefined);
    }
    getOption(options, 'formatMatcher', DTF, ['basic', 'best fit'], 'best fit');
    const dateStyle = getOption(options, 'dateStyle', DTF, STYLES, undefined);
    const timeStyle = getOption(options, 'timeStyle', DTF, STYLES, undefined);
    if (dateStyle !== undefined || timeStyle !== undefined) {
      for (const [name] of COMPONENTS) {
        if (fields[name] !== undefined) throw new TypeError(`Can't set option ${name} when ${dateStyle !== undefined ? 'dateStyle' : 'timeStyle'} is used`);
      }
      if (required === 'date' && dateStyle === undefined) throw new TypeError(`Invalid option : timeStyle`);
      if (required === 'time' && timeStyle === undefined) throw new TypeError(`Invalid option : dateStyle`);
    } else {
      let needDefaults = true;
      if (required !== 'time' && (fields.weekday || fields.year || fields.month || fields.day)) needDefaults = false;
      if (required !== 'date' && (fields.dayPeriod || fields.hour || fields.minute || fields.second || fields.fractionalSecondDigits)) needDefaults = false;
      if (needDefaults && (defaults === 'date' || defaults === 'all')) Object.assign(fields, { year: 'numeric', month: 'numeric', day: 'numeric' });
      if (needDefaults && (defaults === 'time' || defaults === 'all')) Object.assign(fields, { hour: 'numeric', minute: 'numeric', second: 'numeric' });
      if (fields.era !== undefined || fields.dayPeriod !== undefined) {
        throw new RangeError(`Intl.DateTimeFormat: option "${fields.era !== undefined ? 'era' : 'dayPeriod'}" is not supported by flux`);
      }
    }
    const hasHour = fields.hour !== undefined || timeStyle !== undefined;
    let locale12 = cached(`HC ${locale}`, () => natives.hourCycle12(locale));
    if (hour12 !== undefined) locale12 = hour12;
    else if (hourCycle !== undefined) locale12 = hourCycle === 'h11' || hourCycle === 'h12';
    const resolved = { locale, calendar: 'gregory', numberingSystem: 'latn', timeZone };
    if (hasHour) {
      resolved.hourCycle = hourCycle === 'h11' || hourCycle === 'h24' ? hourCycle : locale12 ? 'h12' : 'h23';
      resolved.hour12 = locale12;
    }
    if (dateStyle !== undefined || timeStyle !== undefined) {
      if (dateStyle !== undefined) resolved.dateStyle = dateStyle;
      if (timeStyle !== undefined) resolved.timeStyle = timeStyle;
    } else {
      for (const [name] of COMPONENTS) if (fields[name] !== undefined) resolved[name] = fields[name];
    }
    const native = { ...fields, dateStyle, timeStyle, timeZone, locale: hasHour ? `${locale}-u-hc-${locale12 ? 'h12' : 'h23'}` : locale };
    const key = `DTF ${JSON.stringify(native)}`;
    const format = cached(key, () => natives.dateTimeFormat(native.locale, native));
    return { kind: 'DateTimeFormat', resolved, format, bound: undefined };
  };

  const toTime = (date) => {
    const x = date === undefined ? Date.now() : Number(date);
    if (!Number.isFinite(x) || Math.abs(x) > 8.64e15) throw new RangeError('Invalid time value');
    return Math.trunc(x) + 0;
  };
  const formatDateParts = (s, date) => {
    const parts = s.format(toTime(date));
    if (parts === null) throw new RangeError('Invalid time value');
    return parts;
  };

  function DateTimeFormat(locales, options) {
    const target = new.target === undefined ? DateTimeFormat : new.target;
    const self = Object.create(target.prototype);
    P.set(self, dateTimeFormatSlot(locales, options));
    return self;
  }
  Object.defineProperty(DateTimeFormat.prototype, 'format', {
    get() {
      const s = slot(this, 'DateTimeFormat', 'format');
      if (s.bound === undefined) s.bound = (date) => joinParts(formatDateParts(s, date));
      return s.bound;
    },
    configurable: true,
  });
  method(DateTimeFormat, 'formatToParts', function formatToParts(date) {
    return partObjects(formatDateParts(slot(this, 'DateTimeFormat', 'formatToParts'), date));
  });
  method(DateTimeFormat, 'resolvedOptions', function resolvedOptions() {
    return { ...slot(this, 'DateTimeFormat', 'resolvedOptions').resolved };
  });
  tag(DateTimeFormat, 'Intl.DateTimeFormat');

  // ------------------------------------------------------------------ PluralRules

  const PR = 'Intl.PluralRules';
  function PluralRules(locales, options) {
    requireNew(new.target, 'PluralRules');
    const self = Object.create(new.target.prototype);
    options = toOptions(options, PR);
    getOption(options, 'localeMatcher', PR, ['lookup', 'best fit'], 'best fit');
    const type = getOption(options, 'type', PR, ['cardinal', 'ordinal'], 'cardinal');
    const digits = digitOptions(options, 0, 3, 'standard');
    const { locale } = resolveLocale(locales);
    const key = `PR ${locale} ${type} ${JSON.stringify(digits)}`;
    const native = cached(key, () => natives.pluralRules(locale, type, digits));
    const resolved = { locale, type, ...digits, pluralCategories: [...native.categories] };
    P.set(self, { kind: 'PluralRules', resolved, native });
    return self;
  }
  method(PluralRules, 'select', function select(n) {
    const s = slot(this, 'PluralRules', 'select');
    const x = Number(n);
    if (!Number.isFinite(x)) return 'other';
    return s.native.select(x);
  });
  method(PluralRules, 'resolvedOptions', function resolvedOptions() {
    const r = slot(this, 'PluralRules', 'resolvedOptions').resolved;
    return { ...r, pluralCategories: [...r.pluralCategories] };
  });
  tag(PluralRules, 'Intl.PluralRules');

  // ------------------------------------------------------------------ RelativeTimeFormat

  const RTF = 'Intl.RelativeTimeFormat';
  const UNITS = ['second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];
  function RelativeTimeFormat(locales, options) {
    requireNew(new.target, 'RelativeTimeFormat');
    const self = Object.create(new.target.prototype);
    options = toOptions(options, RTF);
    getOption(options, 'localeMatcher', RTF, ['lookup', 'best fit'], 'best fit');
    const { locale } = resolveLocale(locales);
    const style = getOption(options, 'style', RTF, ['long', 'short', 'narrow'], 'long');
    const numeric = getOption(options, 'numeric', RTF, ['always', 'auto'], 'always');
    const native = cached(`RTF ${locale} ${style} ${numeric}`, () => natives.relativeTimeFormat(locale, style, numeric));
    P.set(self, { kind: 'RelativeTimeFormat', resolved: { locale, style, numeric, numberingSystem: 'latn' }, native });
    return self;
  }
  const relativeParts = (s, value, unit, method) => {
    const x = Number(value);
    unit = String(unit);
    const singular = unit.endsWith('s') ? unit.slice(0, -1) : unit;
    if (!UNITS.includes(singular)) throw new RangeError(`Invalid unit argument for Intl.RelativeTimeFormat.prototype.${method}() '${unit}'`);
    if (!Number.isFinite(x)) throw new RangeError(`Value need to be finite number for Intl.RelativeTimeFormat.prototype.${method}()`);
    return s.native(x, singular);
  };
  method(RelativeTimeFormat, 'format', function format(value, unit) {
    return joinParts(relativeParts(slot(this, 'RelativeTimeFormat', 'format'), value, unit, 'format'));
  });
  method(RelativeTimeFormat, 'formatToParts', function formatToParts(value, unit) {
    const s = slot(this, 'RelativeTimeFormat', 'formatToParts');
    const singular = String(unit).replace(/s$/, '');
    return relativeParts(s, value, unit, 'formatToParts').map(([type, part]) => (type === 'literal' ? { type, value: part } : { type, value: part, unit: singular }));
  });
  method(RelativeTimeFormat, 'resolvedOptions', function resolvedOptions() {
    return { ...slot(this, 'RelativeTimeFormat', 'resolvedOptions').resolved };
  });
  tag(RelativeTimeFormat, 'Intl.RelativeTimeFormat');

  // ------------------------------------------------------------------ Collator

  const COL = 'Intl.Collator';
  const collatorSlot = (locales, options) => {
    options = toOptions(options, COL);
    const usage = getOption(options, 'usage', COL, ['sort', 'search'], 'sort');
    getOption(options, 'localeMatcher', COL, ['lookup', 'best fit'], 'best fit');
    const collation = options.collation;
    if (collation !== undefined && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(String(collation))) {
      throw new RangeError(`Invalid collation : ${String(collation)}`);
    }
    let numeric = options.numeric === undefined ? undefined : Boolean(options.numeric);
    let caseFirst = getOption(options, 'caseFirst', COL, ['upper', 'lower', 'false'], undefined);
    const { locale, ext } = resolveLocale(locales, ['kn', 'kf']);
    if (numeric === undefined) numeric = ext.kn === 'true';
    if (caseFirst === undefined) caseFirst = ['upper', 'lower', 'false'].includes(ext.kf) ? ext.kf : 'false';
    const sensitivity = getOption(options, 'sensitivity', COL, ['base', 'accent', 'case', 'variant'], 'variant');
    const ignorePunctuation = getOption(options, 'ignorePunctuation', COL, 'boolean', false);
    const resolved = { locale, usage, sensitivity, ignorePunctuation, collation: 'default', numeric, caseFirst };
    const tagged = `${locale}-u-kf-${caseFirst}-kn-${numeric}`;
    const native = cached(`COL ${tagged} ${sensitivity} ${ignorePunctuation}`, () => natives.collator(tagged, sensitivity, ignorePunctuation));
    return { kind: 'Collator', resolved, native, bound: undefined };
  };
  function Collator(locales, options) {
    const target = new.target === undefined ? Collator : new.target;
    const self = Object.create(target.prototype);
    P.set(self, collatorSlot(locales, options));
    return self;
  }
  Object.defineProperty(Collator.prototype, 'compare', {
    get() {
      const s = slot(this, 'Collator', 'compare');
      if (s.bound === undefined) s.bound = (a, b) => s.native(String(a), String(b));
      return s.bound;
    },
    configurable: true,
  });
  method(Collator, 'resolvedOptions', function resolvedOptions() {
    return { ...slot(this, 'Collator', 'resolvedOptions').resolved };
  });
  tag(Collator, 'Intl.Collator');

  // ------------------------------------------------------------------ ListFormat

  const LF = 'Intl.ListFormat';
  function ListFormat(locales, options) {
    requireNew(new.target, 'ListFormat');
    const self = Object.create(new.target.prototype);
    options = toOptions(options, LF);
    getOption(options, 'localeMatcher', LF, ['lookup', 'best fit'], 'best fit');
    const { locale } = resolveLocale(locales);
    const type = getOption(options, 'type', LF, ['conjunction', 'disjunction', 'unit'], 'conjunction');
    const style = getOption(options, 'style', LF, ['long', 'short', 'narrow'], 'long');
    const native = cached(`LF ${locale} ${type} ${style}`, () => natives.listFormat(locale, type, style));
    P.set(self, { kind: 'ListFormat', resolved: { locale, type, style }, native });
    return self;
  }
  const listItems = (list) => {
    if (list === undefined) return [];
    const items = [];
    for (const item of list) {
      if (typeof item !== 'string') throw new TypeError(`Iterable yielded ${String(item)} which is not a string`);
      items.push(item);
    }
    return items;
  };
  method(ListFormat, 'format', function format(list) {
    return joinParts(slot(this, 'ListFormat', 'format').native(listItems(list)));
  });
  method(ListFormat, 'formatToParts', function formatToParts(list) {
    return partObjects(slot(this, 'ListFormat', 'formatToParts').native(listItems(list)));
  });
  method(ListFormat, 'resolvedOptions', function resolvedOptions() {
    return { ...slot(this, 'ListFormat', 'resolvedOptions').resolved };
  });
  tag(ListFormat, 'Intl.ListFormat');

  // ------------------------------------------------------------------ Segmenter

  const SEG = 'Intl.Segmenter';
  function Segmenter(locales, options) {
    requireNew(new.target, 'Segmenter');
    const self = Object.create(new.target.prototype);
    options = toOptions(options, SEG);
    getOption(options, 'localeMatcher', SEG, ['lookup', 'best fit'], 'best fit');
    const { locale } = resolveLocale(locales);
    const granularity = getOption(options, 'granularity', SEG, ['grapheme', 'word', 'sentence'], 'grapheme');
    P.set(self, { kind: 'Segmenter', resolved: { locale, granularity } });
    return self;
  }
  const segmentData = (input, granularity, [start, end, wordLike]) => {
    const data = { segment: input.slice(start, end), index: start, input };
    if (granularity === 'word') data.isWordLike = wordLike === 1;
    return data;
  };
  const SegmentsProto = {
    containing(index) {
      const s = P.get(this);
      let n = index === undefined ? 0 : Math.trunc(Number(index)) || 0;
      if (n < 0 || n >= s.input.length) return undefined;
      const found = s.list.find(([start, end]) => start <= n && n < end);
      return found && segmentData(s.input, s.granularity, found);
    },
    [Symbol.iterator]() {
      const s = P.get(this);
      let i = 0;
      return {
        next: () => (i < s.list.length
          ? { value: segmentData(s.input, s.granularity, s.list[i++]), done: false }
          : { value: undefined, done: true }),
        [Symbol.iterator]() { return this; },
        [Symbol.toStringTag]: 'Segmenter String Iterator',
      };
    },
  };
  method(Segmenter, 'segment', function segment(input) {
    const { granularity } = slot(this, 'Segmenter', 'segment').resolved;
    const text = String(input);
    const segments = Object.create(SegmentsProto);
    P.set(segments, { input: text, granularity, list: natives.segment(granularity, text) });
    return segments;
  });
  method(Segmenter, 'resolvedOptions', function resolvedOptions() {
    return { ...slot(this, 'Segmenter', 'resolvedOptions').resolved };
  });
  tag(Segmenter, 'Intl.Segmenter');

  // ------------------------------------------------------------------ Intl

  const constructors = { Collator, DateTimeFormat, ListFormat, NumberFormat, PluralRules, RelativeTimeFormat, Segmenter };
  for (const name of Object.keys(constructors)) {
    const C = constructors[name];
    Object.defineProperty(C, 'supportedLocalesOf', {
      value: function supportedLocalesOf_(locales, options) { return supportedLocalesOf(locales, options); },
      writable: true,
      configurable: true,
    });
    Object.defineProperty(C, 'name', { value: name, configurable: true });
    Object.defineProperty(C, 'prototype', { writable: false, enumerable: false, configurable: false });
  }
  const Intl = {};
  for (const name of Object.keys(constructors)) {
    Object.defineProperty(Intl, name, { value: constructors[name], writable: true, configurable: true, enumerable: false });
  }
  Object.defineProperty(Intl, 'getCanonicalLocales', {
    value: function getCanonicalLocales(locales) { return canonicalLocales(locales); },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(Intl, Symbol.toStringTag, { value: 'Intl', configurable: true });
  Object.defineProperty(globalThis, 'Intl', { value: Intl, writable: true, configurable: true, enumerable: false });

  // ------------------------------------------------------------------ toLocale*String

  // Built-ins that take a locale: each builds (or reuses) the matching Intl formatter.
  const replace = (proto, name, fn) =>
    Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: false });
  const thisNumber = (value, name) => {
    if (typeof value === 'number') return value;
    if (typeof value === 'object' && value !== null) {
      try {
        return Number.prototype.valueOf.call(value);
      } catch {
        // Falls through to the error below.
      }
    }
    throw new TypeError(`${name} requires that 'this' be a Number`);
  };
  replace(Number.prototype, 'toLocaleString', {
    toLocaleString(locales, options) {
      const x = thisNumber(this, 'Number.prototype.toLocaleString');
      return joinParts(formatNumberParts(numberFormatSlot(locales, options), x));
    },
  }.toLocaleString);
  if (typeof globalThis.BigInt === 'function') {
    replace(globalThis.BigInt.prototype, 'toLocaleString', {
      toLocaleString(locales, options) {
        const x = globalThis.BigInt.prototype.valueOf.call(this);
        return joinParts(formatNumberParts(numberFormatSlot(locales, options), x));
      },
    }.toLocaleString);
  }
  const dateMethod = (name, required, defaults) => {
    const getTime = Date.prototype.getTime;
    replace(Date.prototype, name, {
      [name](locales, options) {
        const t = getTime.call(this);
        if (Number.isNaN(t)) return 'Invalid Date';
        return joinParts(formatDateParts(dateTimeFormatSlot(locales, options, required, defaults), t));
      },
    }[name]);
  };
  dateMethod('toLocaleString', 'any', 'all');
  dateMethod('toLocaleDateString', 'date', 'date');
  dateMethod('toLocaleTimeString', 'time', 'time');
  replace(String.prototype, 'localeCompare', {
    localeCompare(that, locales, options) {
      if (this === undefined || this === null) throw new TypeError('String.prototype.localeCompare called on null or undefined');
      return collatorSlot(locales, options).native(String(this), String(that));
    },
  }.localeCompare);
  const arrayToLocale = function toLocaleString(locales, options) {
    const array = Object(this);
    const length = Math.min(Math.max(Math.trunc(Number(array.length)) || 0, 0), Number.MAX_SAFE_INTEGER);
    let out = '';
    for (let k = 0; k < length; k++) {
      if (k > 0) out += ',';
      const item = array[k];
      if (item !== undefined && item !== null) out += String(Object(item).toLocaleString(locales, options));
    }
    return out;
  };
  replace(Array.prototype, 'toLocaleString', arrayToLocale);
})
