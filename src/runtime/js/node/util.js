// node:util: inspect and format (laid out by Node's rules: depth 2, break at 80 columns,
// up to 3 inner levels on one line, long arrays of short items in columns), promisify,
// callbackify, deprecate, inherits, types, isDeepStrictEqual, TextEncoder/TextDecoder.
// What a JS engine cannot see is said plainly: a promise's state, a proxy's target.
(function (natives, require) {
  'use strict';
  const customInspect = Symbol.for('nodejs.util.inspect.custom');
  const customPromisify = Symbol.for('nodejs.util.promisify.custom');
  const DEFAULTS = {
    depth: 2,
    colors: false,
    customInspect: true,
    showHidden: false,
    maxArrayLength: 100,
    maxStringLength: 10000,
    breakLength: 80,
    compact: 3,
    sorted: false,
    getters: false,
  };

  const toTag = (value) => Object.prototype.toString.call(value).slice(8, -1);
  const TypedArray = Object.getPrototypeOf(Uint8Array);
  const typedArrayTag = (value) => (ArrayBuffer.isView(value) && !(value instanceof DataView) ? value[Symbol.toStringTag] : undefined);

  const types = {
    isAnyArrayBuffer: (v) => v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer),
    isArrayBuffer: (v) => v instanceof ArrayBuffer,
    isArrayBufferView: (v) => ArrayBuffer.isView(v),
    isAsyncFunction: (v) => typeof v === 'function' && toTag(v) === 'AsyncFunction',
    isGeneratorFunction: (v) => typeof v === 'function' && /GeneratorFunction$/.test(toTag(v)),
    isGeneratorObject: (v) => toTag(v) === 'Generator',
    isBooleanObject: (v) => typeof v === 'object' && v !== null && toTag(v) === 'Boolean',
    isNumberObject: (v) => typeof v === 'object' && v !== null && toTag(v) === 'Number',
    isStringObject: (v) => typeof v === 'object' && v !== null && toTag(v) === 'String',
    isSymbolObject: (v) => typeof v === 'object' && v !== null && toTag(v) === 'Symbol',
    isBigIntObject: (v) => typeof v === 'object' && v !== null && toTag(v) === 'BigInt',
    isDataView: (v) => v instanceof DataView,
    isDate: (v) => v instanceof Date,
    isMap: (v) => v instanceof Map,
    isSet: (v) => v instanceof Set,
    isWeakMap: (v) => v instanceof WeakMap,
    isWeakSet: (v) => v instanceof WeakSet,
    isMapIterator: (v) => toTag(v) === 'Map Iterator',
    isSetIterator: (v) => toTag(v) === 'Set Iterator',
    isNativeError: (v) => v instanceof Error,
    isPromise: (v) => v instanceof Promise,
    isRegExp: (v) => v instanceof RegExp,
    isTypedArray: (v) => v instanceof TypedArray,
  };
  for (const name of ['Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
    types[`is${name}`] = (v) => typedArrayTag(v) === name;
  }
  types.isBoxedPrimitive = (v) => types.isBooleanObject(v) || types.isNumberObject(v) || types.isStringObject(v) || types.isSymbolObject(v) || types.isBigIntObject(v);

  // ---------------------------------------------------------------- inspect

  const IDENTIFIER = /^[a-zA-Z_][a-zA-Z_0-9]*$/;
  const ESCAPES = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', '\\': '\\\\' };
  // A string as a literal: single quotes unless it holds one (then double, then backticks).
  const quote = (s) => {
    let q = "'";
    if (s.includes("'")) {
      if (!s.includes('"')) q = '"';
      else if (!s.includes('`') && !s.includes('${')) q = '`';
    }
    let out = '';
    for (const ch of s) {
      const code = ch.codePointAt(0);
      if (ch === q) out += `\\${q}`;
      else if (ESCAPES[ch]) out += ESCAPES[ch];
      else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
      else out += ch;
    }
    return `${q}${out}${q}`;
  };
  const formatNumber = (n) => (Object.is(n, -0) ? '-0' : `${n}`);

  const formatPrimitive = (ctx, value) => {
    switch (typeof value) {
      case 'string': {
        let s = value;
        let rest = '';
        if (s.length > ctx.maxStringLength) {
          const more = s.length - ctx.maxStringLength;
          s = s.slice(0, ctx.maxStringLength);
          rest = `... ${more} more character${more > 1 ? 's' : ''}`;
        }
        return quote(s) + rest;
      }
      case 'number':
        return formatNumber(value);
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return value.toString();
      default:
        return `${value}`;
    }
  };

  // The name of the nearest constructor on the prototype chain, and whether the chain ends
  // in null before any (a null-prototype object).
  const constructorName = (value) => {
    let proto = value;
    while (proto !== null) {
      const desc = Object.getOwnPropertyDescriptor(proto, 'constructor');
      // flux makes the frozen built-ins' `constructor` an accessor (so that it can be
      // overridden on user objects): its getter gives the value.
      const ctor = desc === undefined ? undefined : 'value' in desc ? desc.value : desc.get?.call(proto);
      if (typeof ctor === 'function' && ctor.name !== '') return ctor.name;
      proto = Object.getPrototypeOf(proto);
    }
    return null;
  };

  const prefixOf = (constructor, tag, fallback, size = '') => {
    if (constructor === null) {
      if (tag !== '' && fallback !== tag) return `[${fallback}${size}: null prototype] [${tag}] `;
      return `[${fallback}${size}: null prototype] `;
    }
    if (tag !== '' && constructor !== tag) return `${constructor}${size} [${tag}] `;
    return `${constructor}${size} `;
  };

  const functionBase = (value, constructor, tag) => {
    const source = Function.prototype.toString.call(value);
    if (source.startsWith('class') && /^class\s*[\s{]/.test(source.replace(/^class\s+[\w$]+/, 'class '))) {
      let base = `[class ${value.name || '(anonymous)'}`;
      const parent = Object.getPrototypeOf(value);
      if (parent && parent !== Function.prototype && parent.name) base += ` extends ${parent.name}`;
      return `${base}]`;
    }
    let type = 'Function';
    const kind = toTag(value);
    if (kind === 'AsyncFunction' || kind === 'GeneratorFunction' || kind === 'AsyncGeneratorFunction') type = kind;
    let base = `[${type}`;
    if (constructor === null) base += ' (null prototype)';
    base += value.name === '' ? ' (anonymous)' : `: ${value.name}`;
    base += ']';
    if (constructor !== type && constructor !== null) base += ` ${constructor}`;
    if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
    return base;
  };

  const errorBase = (ctx, err) => {
    const name = err.name === undefined ? 'Error' : String(err.name);
    const message = err.message === undefined ? '' : String(err.message);
    const head = message === '' ? name : `${name}: ${message}`;
    // QuickJS's stack holds the frames only; Node's starts with the header. flux's own
    // frames are left out, as runtime/stack.rs leaves them out of records.
    const frames = typeof err.stack === 'string'
      ? err.stack.split('\n').filter((line) => line.trim() !== '' && !line.includes('(flux:') && !line.includes('at flux:')).join('\n')
      : '';
    let base = frames === '' ? `[${head}]` : frames.startsWith(head) ? frames : `${head}\n${frames}`;
    if (ctx.indentationLvl !== 0) base = base.replace(/\n/g, `\n${' '.repeat(ctx.indentationLvl)}`);
    return base;
  };

  const formatValue = (ctx, value, recurseTimes, typedArray) => {
    if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(ctx, value);
    if (value === null) return 'null';
    if (ctx.customInspect) {
      const custom = value[customInspect];
      if (typeof custom === 'function' && custom !== inspect && !(Object.getOwnPropertyDescriptor(value, 'constructor') && value.constructor.prototype === value)) {
        const depth = ctx.depth === null ? null : ctx.depth - recurseTimes;
        const options = { ...ctx.userOptions, depth };
        const result = custom.call(value, depth, options, inspect);
        if (result !== value) {
          if (typeof result !== 'string') return formatValue(ctx, result, recurseTimes);
          return result.replace(/\n/g, `\n${' '.repeat(ctx.indentationLvl)}`);
        }
      }
    }
    if (ctx.seen.includes(value)) {
      if (ctx.circular === undefined) ctx.circular = new Map();
      let index = ctx.circular.get(value);
      if (index === undefined) {
        index = ctx.circular.size + 1;
        ctx.circular.set(value, index);
      }
      return `[Circular *${index}]`;
    }
    return formatRaw(ctx, value, recurseTimes, typedArray);
  };

  const ARRAY = 1;
  const OBJECT = 0;

  const ownKeys = (ctx, value, skipIndices) => {
    let keys = ctx.showHidden ? Object.getOwnPropertyNames(value) : Object.keys(value);
    if (skipIndices) keys = keys.filter((k) => !/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= 2 ** 32 - 1);
    const symbols = Object.getOwnPropertySymbols(value).filter((s) => ctx.showHidden || Object.prototype.propertyIsEnumerable.call(value, s));
    return [...keys, ...symbols];
  };

  const formatProperty = (ctx, value, recurseTimes, key, type) => {
    const desc = Object.getOwnPropertyDescriptor(value, key) || { value: value[key], enumerable: true };
    let str;
    if (desc.value !== undefined || !('get' in desc || 'set' in desc)) {
      ctx.indentationLvl += 2;
      str = formatValue(ctx, desc.value, recurseTimes);
      ctx.indentationLvl -= 2;
    } else if (desc.get !== undefined) {
      str = desc.set !== undefined ? '[Getter/Setter]' : '[Getter]';
    } else {
      str = desc.set !== undefined ? '[Setter]' : 'undefined';
    }
    if (type === ARRAY) return str;
    let name;
    if (typeof key === 'symbol') name = `[${key.toString()}]`;
    else if (key === '__proto__') name = "['__proto__']";
    else if (desc.enumerable === false) name = `[${IDENTIFIER.test(key) ? key : quote(key)}]`;
    else name = IDENTIFIER.test(key) ? key : quote(key);
    return `${name}: ${str}`;
  };

  // Elements of an array-like, holes counted as Node counts them.
  const formatArray = (ctx, value, recurseTimes) => {
    const output = [];
    const length = value.length;
    const shown = Math.min(length, ctx.maxArrayLength);
    let i = 0;
    while (i < length && output.length < shown) {
      if (!Object.prototype.hasOwnProperty.call(value, i)) {
        let holes = 0;
        while (i < length && !Object.prototype.hasOwnProperty.call(value, i)) {
          holes++;
          i++;
        }
        output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
      } else {
        output.push(formatProperty(ctx, value, recurseTimes, i, ARRAY));
        i++;
      }
    }
    const remaining = length - i;
    if (remaining > 0) output.push(`... ${remaining} more item${remaining > 1 ? 's' : ''}`);
    return output;
  };

  const formatTypedArray = (ctx, value) => {
    const output = [];
    const shown = Math.min(value.length, ctx.maxArrayLength);
    const bigint = typeof value[0] === 'bigint';
    for (let i = 0; i < shown; i++) output.push(bigint ? `${value[i]}n` : formatNumber(value[i]));
    const remaining = value.length - shown;
    if (remaining > 0) output.push(`... ${remaining} more item${remaining > 1 ? 's' : ''}`);
    return output;
  };

  const hexBytes = (ctx, bytes) => {
    const shown = Math.min(bytes.length, ctx.maxArrayLength);
    let s = Array.from(bytes.subarray(0, shown), (b) => b.toString(16).padStart(2, '0')).join(' ');
    const remaining = bytes.length - shown;
    if (remaining > 0) s += ` ... ${remaining} more byte${remaining > 1 ? 's' : ''}`;
    return `<${s}>`;
  };

  const formatRaw = (ctx, value, recurseTimes, typedArray) => {
    let keys;
    const constructor = constructorName(value);
    let tag = value[Symbol.toStringTag];
    if (typeof tag !== 'string' || (tag !== '' && (ctx.showHidden ? Object.prototype.hasOwnProperty : Object.prototype.propertyIsEnumerable).call(value, Symbol.toStringTag))) tag = '';
    let base = '';
    let formatter = () => [];
    let braces;
    let noIterator = true;
    let extrasType = OBJECT;

    if (Symbol.iterator in value || constructor === null) {
      noIterator = false;
      if (Array.isArray(value)) {
        const prefix = constructor !== 'Array' || tag !== '' ? prefixOf(constructor, tag, 'Array', `(${value.length})`) : '';
        keys = ownKeys(ctx, value, true);
        braces = [`${prefix}[`, ']'];
        if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
        extrasType = ARRAY;
        formatter = () => formatArray(ctx, value, recurseTimes);
      } else if (value instanceof Set) {
        keys = ownKeys(ctx, value);
        const prefix = prefixOf(constructor, tag, 'Set', `(${value.size})`);
        if (value.size === 0 && keys.length === 0) return `${prefix}{}`;
        braces = [`${prefix}{`, '}'];
        formatter = () => {
          ctx.indentationLvl += 2;
          const out = [...value].map((v) => formatValue(ctx, v, recurseTimes));
          ctx.indentationLvl -= 2;
          return out;
        };
      } else if (value instanceof Map) {
        keys = ownKeys(ctx, value);
        const prefix = prefixOf(constructor, tag, 'Map', `(${value.size})`);
        if (value.size === 0 && keys.length === 0) return `${prefix}{}`;
        braces = [`${prefix}{`, '}'];
        formatter = () => {
          ctx.indentationLvl += 2;
          const out = [...value].map(([k, v]) => `${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`);
          ctx.indentationLvl -= 2;
          return out;
        };
      } else if (types.isTypedArray(value)) {
        keys = ownKeys(ctx, value, true);
        const name = typedArrayTag(value);
        const prefix = prefixOf(constructor, tag === name ? '' : tag, name, `(${value.length})`);
        braces = [`${prefix}[`, ']'];
        if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
        extrasType = ARRAY;
        formatter = () => formatTypedArray(ctx, value);
      } else {
        noIterator = true;
      }
    }
    if (noIterator) {
      keys = ownKeys(ctx, value);
      braces = ['{', '}'];
      if (constructor === 'Object' && !(value instanceof Error) && toTag(value) !== 'Arguments') {
        if (tag !== '') braces[0] = `${prefixOf(constructor, tag, 'Object')}{`;
        if (keys.length === 0) return `${braces[0]}}`;
      } else if (typeof value === 'function') {
        base = functionBase(value, constructor, tag);
        if (keys.length === 0) return base;
      } else if (value instanceof RegExp) {
        base = RegExp.prototype.toString.call(value);
        const prefix = prefixOf(constructor, tag, 'RegExp');
        if (prefix !== 'RegExp ') base = `${prefix}${base}`;
        if (keys.length === 0) return base;
      } else if (value instanceof Date) {
        base = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
        const prefix = prefixOf(constructor, tag, 'Date');
        if (prefix !== 'Date ') base = `${prefix}${base}`;
        if (keys.length === 0) return base;
      } else if (value instanceof Error) {
        base = errorBase(ctx, value);
        // An own name or message the header already shows is not repeated.
        keys = keys.filter((k) => k !== '__fluxSite' && !((k === 'name' || k === 'message' || k === 'stack') && typeof value[k] === 'string' && base.includes(value[k])));
        if (Object.prototype.hasOwnProperty.call(value, 'cause') && !keys.includes('cause')) keys.push('cause');
        if (keys.length === 0) return base;
      } else if (toTag(value) === 'Arguments') {
        braces = ['[Arguments] [', ']'];
        extrasType = ARRAY;
        keys = ownKeys(ctx, value, true);
        if (value.length === 0 && keys.length === 0) return '[Arguments] []';
        formatter = () => formatArray(ctx, value, recurseTimes);
      } else if (types.isAnyArrayBuffer(value)) {
        const name = types.isArrayBuffer(value) ? 'ArrayBuffer' : 'SharedArrayBuffer';
        const prefix = prefixOf(constructor, tag, name);
        if (typedArray === undefined) {
          formatter = () => [`[Uint8Contents]: ${hexBytes(ctx, new Uint8Array(value))}`, `byteLength: ${formatNumber(value.byteLength)}`];
        }
        braces[0] = `${prefix}{`;
      } else if (value instanceof DataView) {
        braces[0] = `${prefixOf(constructor, tag, 'DataView')}{`;
        formatter = () => [`byteLength: ${value.byteLength}`, `byteOffset: ${value.byteOffset}`, `buffer: ${formatValue(ctx, value.buffer, recurseTimes, true)}`];
      } else if (value instanceof Promise) {
        // A JS engine cannot read a promise's state from JS.
        braces[0] = `${prefixOf(constructor, tag, 'Promise')}{`;
        formatter = () => ['<unknown>'];
      } else if (value instanceof WeakSet || value instanceof WeakMap) {
        const name = value instanceof WeakSet ? 'WeakSet' : 'WeakMap';
        braces[0] = `${prefixOf(constructor, tag, name)}{`;
        formatter = () => ['<items unknown>'];
      } else if (types.isBoxedPrimitive(value)) {
        const primitive = value.valueOf();
        const type = toTag(value);
        base = `[${type}`;
        if (type !== constructor) base += constructor === null ? ' (null prototype)' : ` (${constructor})`;
        base += `: ${formatPrimitive({ maxStringLength: Infinity }, primitive)}]`;
        if (tag !== '' && tag !== constructor) base += ` [${tag}]`;
        if (typeof primitive === 'string') keys = keys.filter((k) => !/^(0|[1-9][0-9]*)$/.test(k));
        if (keys.length === 0) return base;
      } else {
        braces[0] = `${prefixOf(constructor, tag, 'Object')}{`;
        if (keys.length === 0) return `${braces[0]}}`;
      }
    }

    if (ctx.depth !== null && recurseTimes > ctx.depth) {
      return `[${prefixOf(constructor, tag, Array.isArray(value) ? 'Array' : 'Object').slice(0, -1)}]`;
    }
    recurseTimes += 1;
    ctx.seen.push(value);
    ctx.currentDepth = recurseTimes;
    let output = formatter();
    for (const key of keys) output.push(formatProperty(ctx, value, recurseTimes, key, OBJECT));
    ctx.seen.pop();
    if (ctx.sorted) {
      const compare = ctx.sorted === true ? undefined : ctx.sorted;
      if (extrasType === OBJECT) output = output.sort(compare);
    }
    if (ctx.circular !== undefined) {
      const index = ctx.circular.get(value);
      if (index !== undefined) base = base === '' ? `<ref *${index}>` : `<ref *${index}> ${base}`;
    }
    return reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value);
  };

  // Lays many short items out in columns, about as wide as they are tall.
  const groupArrayElements = (ctx, output, value) => {
    let total = 0;
    let widest = 0;
    let count = output.length;
    if (ctx.maxArrayLength < output.length) count--;
    const separator = 2;
    const widths = [];
    for (let i = 0; i < count; i++) {
      const width = output[i].length;
      widths.push(width);
      total += width + separator;
      if (widest < width) widest = width;
    }
    const column = widest + separator;
    if (column * 3 + ctx.indentationLvl < ctx.breakLength && (total / column > 5 || widest <= 6)) {
      const bias = Math.sqrt(column - total / output.length);
      const biased = Math.max(column - 3 - bias, 1);
      const columns = Math.min(
        Math.round(Math.sqrt(2.5 * biased * count) / biased),
        Math.floor((ctx.breakLength - ctx.indentationLvl) / column),
        ctx.compact * 4,
        15,
      );
      if (columns <= 1) return output;
      const lineWidths = [];
      for (let i = 0; i < columns; i++) {
        let width = 0;
        for (let j = i; j < output.length; j += columns) if (widths[j] > width) width = widths[j];
        lineWidths.push(width + separator);
      }
      // Numbers are right-aligned, everything else left-aligned.
      let numeric = value !== undefined;
      if (numeric) {
        for (let i = 0; i < output.length; i++) {
          if (typeof value[i] !== 'number' && typeof value[i] !== 'bigint') {
            numeric = false;
            break;
          }
        }
      }
      const grouped = [];
      for (let i = 0; i < count; i += columns) {
        const last = Math.min(i + columns, count);
        let line = '';
        let j = i;
        for (; j < last - 1; j++) {
          const cell = `${output[j]}, `;
          line += numeric ? cell.padStart(lineWidths[j - i], ' ') : cell.padEnd(lineWidths[j - i], ' ');
        }
        line += numeric ? output[j].padStart(lineWidths[j - i] - separator, ' ') : output[j];
        grouped.push(line);
      }
      if (ctx.maxArrayLength < output.length) grouped.push(output[count]);
      return grouped;
    }
    return output;
  };

  const fitsOnLine = (ctx, output, start, base) => {
    let total = output.length + start;
    if (total + output.length > ctx.breakLength) return false;
    for (const item of output) {
      total += item.length;
      if (total > ctx.breakLength) return false;
    }
    return base === '' || !base.includes('\n');
  };

  const reduceToSingleString = (ctx, output, base, braces, extrasType, recurseTimes, value) => {
    if (ctx.compact !== true) {
      if (typeof ctx.compact === 'number' && ctx.compact >= 1) {
        const entries = output.length;
        if (extrasType === ARRAY && entries > 6) output = groupArrayElements(ctx, output, value);
        if (ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
          const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
          if (fitsOnLine(ctx, output, start, base)) {
            const joined = output.join(', ');
            if (!joined.includes('\n')) return `${base ? `${base} ` : ''}${braces[0]} ${joined} ${braces[1]}`;
          }
        }
      }
      const indentation = `\n${' '.repeat(ctx.indentationLvl)}`;
      return `${base ? `${base} ` : ''}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
    }
    if (fitsOnLine(ctx, output, 0, base)) return `${braces[0]}${base ? ` ${base}` : ''} ${output.join(', ')} ${braces[1]}`;
    const indentation = ' '.repeat(ctx.indentationLvl);
    const ln = base === '' && braces[0].length === 1 ? ' ' : `${base ? ` ${base}` : ''}\n${indentation}  `;
    return `${braces[0]}${ln}${output.join(`,\n${indentation}  `)} ${braces[1]}`;
  };

  function inspect(value, options) {
    const ctx = { ...DEFAULTS, seen: [], indentationLvl: 0, currentDepth: 0, circular: undefined, userOptions: {} };
    if (typeof options === 'boolean') {
      ctx.showHidden = options;
      if (arguments.length >= 3 && arguments[2] !== undefined) ctx.depth = arguments[2];
    } else if (options !== null && typeof options === 'object') {
      for (const key of Object.keys(options)) {
        if (key in DEFAULTS) ctx[key] = options[key];
      }
      ctx.userOptions = options;
    }
    if (ctx.depth === Infinity) ctx.depth = null;
    if (ctx.maxArrayLength === null) ctx.maxArrayLength = Infinity;
    if (ctx.maxStringLength === null) ctx.maxStringLength = Infinity;
    return formatValue(ctx, value, 0);
  }
  inspect.custom = customInspect;
  inspect.defaultOptions = { ...DEFAULTS };

  // ---------------------------------------------------------------- format

  const BUILTIN_PROTOTYPES = new Set([
    Object.prototype, Array.prototype, Error.prototype, Date.prototype, RegExp.prototype, Function.prototype,
    Number.prototype, String.prototype, Boolean.prototype, Symbol.prototype, BigInt.prototype,
  ]);
  // Whether %s should inspect an object rather than call its own toString.
  const hasBuiltInToString = (value) => {
    for (let proto = value; proto !== null; proto = Object.getPrototypeOf(proto)) {
      if (Object.prototype.hasOwnProperty.call(proto, 'toString')) return BUILTIN_PROTOTYPES.has(proto);
    }
    return true;
  };

  const stringify = (value) => {
    try {
      return JSON.stringify(value);
    } catch (e) {
      if (e instanceof TypeError && /circular/i.test(e.message)) return '[Circular]';
      throw e;
    }
  };

  function formatWithOptions(inspectOptions, ...args) {
    if (inspectOptions === null || typeof inspectOptions !== 'object') {
      throw new TypeError('The "inspectOptions" argument must be of type object');
    }
    const first = args[0];
    let used = 0;
    let out = '';
    let join = '';
    if (typeof first === 'string') {
      if (args.length === 1) return first;
      let last = 0;
      for (let i = 0; i < first.length - 1; i++) {
        if (first[i] !== '%') continue;
        const spec = first[++i];
        if (used + 1 !== args.length) {
          let piece;
          switch (spec) {
            case 's': {
              const arg = args[++used];
              if (typeof arg === 'number') piece = formatNumber(arg);
              else if (typeof arg === 'bigint') piece = `${arg}n`;
              else if (typeof arg !== 'object' || arg === null || !hasBuiltInToString(arg)) piece = String(arg);
              else piece = inspect(arg, { ...inspectOptions, depth: 0, colors: false, compact: 3 });
              break;
            }
            case 'j':
              piece = stringify(args[++used]);
              break;
            case 'd': {
              const arg = args[++used];
              if (typeof arg === 'bigint') piece = `${arg}n`;
              else if (typeof arg === 'symbol') piece = 'NaN';
              else piece = formatNumber(Number(arg));
              break;
            }
            case 'O':
              piece = inspect(args[++used], inspectOptions);
              break;
            case 'o':
              piece = inspect(args[++used], { ...inspectOptions, showHidden: true, depth: 4 });
              break;
            case 'i': {
              const arg = args[++used];
              if (typeof arg === 'bigint') piece = `${arg}n`;
              else if (typeof arg === 'symbol') piece = 'NaN';
              else piece = formatNumber(Number.parseInt(arg));
              break;
            }
            case 'f': {
              const arg = args[++used];
              piece = typeof arg === 'symbol' ? 'NaN' : formatNumber(Number.parseFloat(arg));
              break;
            }
            case 'c':
              used++;
              piece = '';
              break;
            case '%':
              out += first.slice(last, i);
              last = i + 1;
              continue;
            default:
              continue;
          }
          if (last !== i - 1) out += first.slice(last, i - 1);
          out += piece;
          last = i + 1;
        } else if (spec === '%') {
          out += first.slice(last, i);
          last = i + 1;
        }
      }
      if (last !== 0) {
        used++;
        join = ' ';
        if (last < first.length) out += first.slice(last);
      }
    }
    while (used < args.length) {
      const value = args[used];
      out += join;
      out += typeof value !== 'string' ? inspect(value, inspectOptions) : value;
      join = ' ';
      used++;
    }
    return out;
  }
  const format = (...args) => formatWithOptions({}, ...args);

  // ---------------------------------------------------------------- functions

  function promisify(original) {
    if (typeof original !== 'function') throw new TypeError('The "original" argument must be of type function');
    if (original[customPromisify]) {
      const fn = original[customPromisify];
      if (typeof fn !== 'function') throw new TypeError('The "util.promisify.custom" argument must be of type function');
      return Object.defineProperty(fn, customPromisify, { value: fn, enumerable: false, writable: false, configurable: true });
    }
    function fn(...args) {
      return new Promise((resolve, reject) => {
        Reflect.apply(original, this, [...args, (err, ...values) => (err ? reject(err) : resolve(values[0]))]);
      });
    }
    Object.setPrototypeOf(fn, Object.getPrototypeOf(original));
    Object.defineProperty(fn, customPromisify, { value: fn, enumerable: false, writable: false, configurable: true });
    return Object.defineProperties(fn, Object.getOwnPropertyDescriptors(original));
  }
  promisify.custom = customPromisify;

  function callbackify(original) {
    if (typeof original !== 'function') throw new TypeError('The "original" argument must be of type function');
    return function (...args) {
      const callback = args.pop();
      if (typeof callback !== 'function') throw new TypeError('The last argument must be of type function');
      Reflect.apply(original, this, args).then(
        (value) => Promise.resolve().then(() => callback(null, value)),
        (reason) => {
          // A falsy rejection reason still has to reach the callback as an error.
          if (!reason) {
            const err = new Error('Promise was rejected with a falsy value');
            err.reason = reason;
            reason = err;
          }
          Promise.resolve().then(() => callback(reason));
        },
      );
    };
  }

  // Warns once per code (or per function without one), on the console, as Node does on stderr.
  const warned = new Set();
  function deprecate(fn, message, code) {
    if (typeof fn !== 'function') throw new TypeError('The "fn" argument must be of type function');
    const key = code === undefined ? fn : code;
    function deprecated(...args) {
      if (!warned.has(key)) {
        warned.add(key);
        console.warn(`${code ? `[${code}] ` : ''}DeprecationWarning: ${message}`);
      }
      return new.target ? Reflect.construct(fn, args, new.target) : Reflect.apply(fn, this, args);
    }
    Object.setPrototypeOf(deprecated, fn);
    if (fn.prototype) deprecated.prototype = fn.prototype;
    return deprecated;
  }

  function inherits(ctor, superCtor) {
    if (typeof ctor !== 'function') throw new TypeError('The "ctor" argument must be of type function');
    if (typeof superCtor !== 'function') throw new TypeError('The "superCtor" argument must be of type function');
    if (superCtor.prototype === undefined) throw new TypeError('The "superCtor.prototype" property must be of type object');
    Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
    Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
  }

  // Node's strict deep equality: same prototypes, own enumerable keys, Map/Set contents,
  // dates by time, regexps by source and flags, NaN equal to itself.
  const isDeepStrictEqual = (a, b, seen = new Map()) => {
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (toTag(a) !== toTag(b)) return false;
    if (seen.get(a) === b) return true;
    seen.set(a, b);
    if (a instanceof Date && a.getTime() !== b.getTime()) return false;
    if (a instanceof RegExp && (a.source !== b.source || a.flags !== b.flags)) return false;
    if (types.isBoxedPrimitive(a) && !Object.is(a.valueOf(), b.valueOf())) return false;
    if (ArrayBuffer.isView(a)) {
      if (a.byteLength !== b.byteLength) return false;
      const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    }
    if (a instanceof Map) {
      if (a.size !== b.size) return false;
      for (const [k, v] of a) if (!b.has(k) || !isDeepStrictEqual(v, b.get(k), seen)) return false;
    }
    if (a instanceof Set) {
      if (a.size !== b.size) return false;
      outer: for (const v of a) {
        if (b.has(v)) continue;
        if (typeof v === 'object' && v !== null) {
          for (const w of b) if (isDeepStrictEqual(v, w, seen)) continue outer;
        }
        return false;
      }
    }
    const keysA = ownKeys({ showHidden: false }, a);
    const keysB = ownKeys({ showHidden: false }, b);
    if (keysA.length !== keysB.length) return false;
    for (const key of keysA) {
      if (!Object.prototype.propertyIsEnumerable.call(b, key)) return false;
      if (!isDeepStrictEqual(a[key], b[key], seen)) return false;
    }
    return true;
  };

  // NODE_DEBUG does not reach a function: the debug log is always off.
  const debuglog = () => {
    const log = () => {};
    log.enabled = false;
    return log;
  };

  return {
    inspect,
    format,
    formatWithOptions,
    promisify,
    callbackify,
    deprecate,
    inherits,
    isDeepStrictEqual: (a, b) => isDeepStrictEqual(a, b),
    isArray: Array.isArray,
    types,
    debuglog,
    debug: debuglog,
    TextEncoder: globalThis.TextEncoder,
    TextDecoder: globalThis.TextDecoder,
  };
})
