// A minimal stand-in for WPT's testharness.js, written for this runner (not a copy of it): the
// `test`/`async_test`/`promise_test` functions and `assert_*` helpers the .any.js files call.
//
// run.mjs evaluates this text, then the test's META scripts and the test itself, as the body
// of one function `(resources, timeoutMs, __wptTitle) => Promise<{ tests, error }>` (the title
// names the tests that have no name, as testharness.js does), in flux and in Node
// alike, so both runtimes are measured by the same code. `resources` holds the text of the JSON
// files the test fetches (keyed by the path as the test spells it); `fetch` here serves only
// those. The text is parsed here, not before it is sent to flux: the URL data has lone
// surrogates (`"\uD800"`), which JavaScript's JSON.parse keeps and flux's request-body parser
// makes U+FFFD (it holds `req.body` as UTF-8).

const __wptTests = [];
const __wptWaiting = [];
const __wptPromiseTests = [];
let __wptError = null;

// The window/worker surface the .any.js files look at; none of them is a document here.
const location = { search: '', href: 'http://web-platform.test/', origin: 'http://web-platform.test' };
const GLOBAL = { isWindow: () => false, isWorker: () => false, isShadowRealm: () => false };
const self = new Proxy(globalThis, {
  get: (target, key) => (key === 'GLOBAL' ? GLOBAL : Reflect.get(target, key)),
});

const fetch = (path) => {
  const key = String(path);
  if (!Object.prototype.hasOwnProperty.call(resources, key)) {
    return Promise.reject(new TypeError(`the WPT runner serves no ${key} (tests that need the WPT server are out of scope)`));
  }
  const text = resources[key];
  return Promise.resolve({
    ok: true,
    status: 200,
    json: () => Promise.resolve(JSON.parse(text)),
    text: () => Promise.resolve(text),
  });
};
const fetch_json = (path) => fetch(path).then((response) => response.json());

class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionError';
  }
}

class OptionalFeatureUnsupportedError extends AssertionError {}

function format_value(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Object.is(value, -0)) return '-0';
  if (typeof value === 'symbol') return String(value);
  if (Array.isArray(value)) return `[${value.map(format_value).join(', ')}]`;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function __wptFail(description, message) {
  throw new AssertionError(description ? `${description}: ${message}` : message);
}

function assert(condition, name, description, message) {
  if (!condition) __wptFail(description, `${name}: ${message}`);
}

function assert_true(actual, description) {
  assert(actual === true, 'assert_true', description, `expected true got ${format_value(actual)}`);
}

function assert_false(actual, description) {
  assert(actual === false, 'assert_false', description, `expected false got ${format_value(actual)}`);
}

function assert_equals(actual, expected, description) {
  assert(Object.is(actual, expected), 'assert_equals', description,
    `expected ${format_value(expected)} but got ${format_value(actual)}`);
}

function assert_not_equals(actual, expected, description) {
  assert(!Object.is(actual, expected), 'assert_not_equals', description,
    `got disallowed value ${format_value(actual)}`);
}

function assert_in_array(actual, expected, description) {
  assert(expected.indexOf(actual) !== -1, 'assert_in_array', description,
    `value ${format_value(actual)} not in array ${format_value(expected)}`);
}

function assert_array_equals(actual, expected, description) {
  assert(typeof actual === 'object' && actual !== null && 'length' in actual, 'assert_array_equals',
    description, `value is ${format_value(actual)}, expected array`);
  assert(actual.length === expected.length, 'assert_array_equals', description,
    `lengths differ, expected ${expected.length} got ${actual.length}`);
  for (let i = 0; i < actual.length; i++) {
    assert(Object.is(actual[i], expected[i]), 'assert_array_equals', description,
      `expected ${format_value(expected[i])} but got ${format_value(actual[i])} at index ${i}`);
  }
}

function assert_array_approx_equals(actual, expected, epsilon, description) {
  assert(actual.length === expected.length, 'assert_array_approx_equals', description, 'lengths differ');
  for (let i = 0; i < actual.length; i++) {
    assert(Math.abs(actual[i] - expected[i]) <= epsilon, 'assert_array_approx_equals', description,
      `index ${i}: ${actual[i]} is not within ${epsilon} of ${expected[i]}`);
  }
}

function assert_object_equals(actual, expected, description) {
  const check = (a, e, path, seen) => {
    if (typeof e !== 'object' || e === null) {
      assert(Object.is(a, e), 'assert_object_equals', description,
        `property ${path} expected ${format_value(e)} got ${format_value(a)}`);
      return;
    }
    if (seen.includes(e)) return;
    assert(typeof a === 'object' && a !== null, 'assert_object_equals', description,
      `property ${path} expected an object got ${format_value(a)}`);
    for (const key of Object.keys(a)) {
      assert(Object.prototype.hasOwnProperty.call(e, key), 'assert_object_equals', description,
        `unexpected property ${path}.${key}`);
    }
    for (const key of Object.keys(e)) {
      assert(Object.prototype.hasOwnProperty.call(a, key), 'assert_object_equals', description,
        `expected property ${path}.${key} missing`);
      check(a[key], e[key], `${path}.${key}`, [...seen, e]);
    }
  };
  check(actual, expected, '', []);
}

function assert_approx_equals(actual, expected, epsilon, description) {
  assert(typeof actual === 'number' && Math.abs(actual - expected) <= epsilon, 'assert_approx_equals',
    description, `expected ${expected} +/- ${epsilon} but got ${format_value(actual)}`);
}

function assert_less_than(actual, expected, description) {
  assert(typeof actual === typeof expected && actual < expected, 'assert_less_than', description,
    `expected a number less than ${expected} but got ${format_value(actual)}`);
}

function assert_greater_than(actual, expected, description) {
  assert(typeof actual === typeof expected && actual > expected, 'assert_greater_than', description,
    `expected a number greater than ${expected} but got ${format_value(actual)}`);
}

function assert_less_than_equal(actual, expected, description) {
  assert(typeof actual === typeof expected && actual <= expected, 'assert_less_than_equal', description,
    `expected a number less than or equal to ${expected} but got ${format_value(actual)}`);
}

function assert_greater_than_equal(actual, expected, description) {
  assert(typeof actual === typeof expected && actual >= expected, 'assert_greater_than_equal', description,
    `expected a number greater than or equal to ${expected} but got ${format_value(actual)}`);
}

function assert_between_exclusive(actual, lower, upper, description) {
  assert(actual > lower && actual < upper, 'assert_between_exclusive', description,
    `expected a number between ${lower} and ${upper} but got ${format_value(actual)}`);
}

function assert_between_inclusive(actual, lower, upper, description) {
  assert(actual >= lower && actual <= upper, 'assert_between_inclusive', description,
    `expected a number between ${lower} and ${upper} but got ${format_value(actual)}`);
}

function assert_regexp_match(actual, expected, description) {
  assert(expected.test(actual), 'assert_regexp_match', description,
    `expected ${format_value(actual)} to match ${expected}`);
}

function assert_class_string(object, class_string, description) {
  const actual = Object.prototype.toString.call(object);
  assert(actual === `[object ${class_string}]`, 'assert_class_string', description,
    `expected [object ${class_string}] but got ${actual}`);
}

function assert_own_property(object, property_name, description) {
  assert(Object.prototype.hasOwnProperty.call(object, property_name), 'assert_own_property',
    description, `expected property ${format_value(property_name)} missing`);
}

function assert_not_own_property(object, property_name, description) {
  assert(!Object.prototype.hasOwnProperty.call(object, property_name), 'assert_not_own_property',
    description, `unexpected property ${format_value(property_name)} found`);
}

function assert_inherits(object, property_name, description) {
  assert(typeof object === 'object' || typeof object === 'function', 'assert_inherits', description,
    'provided value is not an object');
  assert(!Object.prototype.hasOwnProperty.call(object, property_name) && property_name in object,
    'assert_inherits', description, `property ${format_value(property_name)} is not inherited`);
}

const assert_idl_attribute = assert_inherits;

function assert_readonly(object, property_name, description) {
  const before = object[property_name];
  try {
    object[property_name] = `${before}a`;
    assert(Object.is(object[property_name], before), 'assert_readonly', description,
      `changing property ${format_value(property_name)} succeeded`);
  } finally {
    try {
      object[property_name] = before;
    } catch {
      // A strict-mode setter may throw; the property is read-only either way.
    }
  }
}

function assert_unreached(description) {
  __wptFail(description, 'assert_unreached: reached unreachable code');
}

function assert_implements(condition, description) {
  assert(!!condition, 'assert_implements', description, 'not implemented');
}

function assert_implements_optional(condition, description) {
  if (!condition) throw new OptionalFeatureUnsupportedError(description);
}

function assert_any(assert_func, actual, expected_array, ...args) {
  const errors = [];
  for (const expected of expected_array) {
    try {
      assert_func(actual, expected, ...args);
      return;
    } catch (e) {
      errors.push(e.message);
    }
  }
  __wptFail('', `assert_any: ${errors.join('; ')}`);
}

function __wptThrows(fn) {
  try {
    fn();
  } catch (e) {
    return { thrown: true, error: e };
  }
  return { thrown: false };
}

function __wptCheckJsError(error, constructor, description) {
  assert(typeof error === 'object' && error !== null, 'assert_throws_js', description,
    `${format_value(error)} thrown, not an object`);
  assert(Object.getPrototypeOf(error) === constructor.prototype || error.constructor === constructor,
    'assert_throws_js', description,
    `expected ${constructor.name} but got ${error && error.constructor && error.constructor.name}: ${error && error.message}`);
  assert(error.name === constructor.name, 'assert_throws_js', description,
    `expected name ${constructor.name} got ${error.name}`);
}

function assert_throws_js(constructor, func, description) {
  const result = __wptThrows(func);
  assert(result.thrown, 'assert_throws_js', description, `${func} did not throw`);
  __wptCheckJsError(result.error, constructor, description);
}

// The legacy codes and constant names assert_throws_dom accepts beside the names.
const __wptDomCodes = {
  IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
  NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InUseAttributeError: 10,
  InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
  InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19,
  AbortError: 20, URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23,
  InvalidNodeTypeError: 24, DataCloneError: 25,
};

function __wptDomName(type) {
  if (typeof type === 'number') {
    return Object.keys(__wptDomCodes).find((name) => __wptDomCodes[name] === type) || String(type);
  }
  if (/^[A-Z_]+_ERR$/.test(type)) {
    const words = type.slice(0, -4).toLowerCase().split('_');
    const guess = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('') + 'Error';
    const found = Object.keys(__wptDomCodes).find((name) => name.toLowerCase() === guess.toLowerCase());
    return found || guess;
  }
  return type;
}

function __wptCheckDomError(error, type, constructor, description) {
  const name = __wptDomName(type);
  assert(typeof error === 'object' && error !== null, 'assert_throws_dom', description,
    `${format_value(error)} thrown, not an object`);
  assert(error.name === name, 'assert_throws_dom', description,
    `expected ${name} but got ${error.name}: ${error.message}`);
  if (name in __wptDomCodes) {
    assert(error.code === __wptDomCodes[name], 'assert_throws_dom', description,
      `expected code ${__wptDomCodes[name]} got ${error.code}`);
  }
  assert(error instanceof constructor, 'assert_throws_dom', description, 'not a DOMException');
}

function assert_throws_dom(type, ...rest) {
  const [constructor, func, description] = typeof rest[1] === 'function'
    ? rest
    : [globalThis.DOMException, rest[0], rest[1]];
  const result = __wptThrows(func);
  assert(result.thrown, 'assert_throws_dom', description, `${func} did not throw`);
  __wptCheckDomError(result.error, type, constructor, description);
}

function assert_throws_exactly(exception, func, description) {
  const result = __wptThrows(func);
  assert(result.thrown, 'assert_throws_exactly', description, `${func} did not throw`);
  assert(Object.is(result.error, exception), 'assert_throws_exactly', description,
    `${format_value(result.error)} thrown, expected ${format_value(exception)}`);
}

function __wptRejects(promise, check, description) {
  return Promise.resolve(promise).then(
    () => __wptFail(description, 'promise resolved, expected a rejection'),
    check,
  );
}

function promise_rejects_js(test, constructor, promise, description) {
  return __wptRejects(promise, (e) => __wptCheckJsError(e, constructor, description), description);
}

function promise_rejects_dom(test, type, ...rest) {
  const [constructor, promise, description] = typeof rest[0] === 'function'
    ? rest
    : [globalThis.DOMException, rest[0], rest[1]];
  return __wptRejects(promise, (e) => __wptCheckDomError(e, type, constructor, description), description);
}

function promise_rejects_exactly(test, exception, promise, description) {
  return __wptRejects(promise, (e) => assert(Object.is(e, exception), 'promise_rejects_exactly',
    description, `${format_value(e)} thrown, expected ${format_value(exception)}`), description);
}

class Test {
  constructor(name) {
    this.name = name;
    this.status = null;
    this.message = '';
    this.cleanups = [];
    this.finished = new Promise((resolve) => {
      this.resolve = resolve;
    });
    __wptTests.push(this);
  }

  step(func, thisObject, ...args) {
    if (this.status) return undefined;
    try {
      return func.apply(thisObject === undefined ? this : thisObject, args);
    } catch (e) {
      this.fail(e);
      return undefined;
    }
  }

  step_func(func, thisObject) {
    const test = this;
    return function (...args) {
      return test.step(func, thisObject === undefined ? this : thisObject, ...args);
    };
  }

  step_func_done(func, thisObject) {
    const test = this;
    return function (...args) {
      const result = func ? test.step(func, thisObject === undefined ? this : thisObject, ...args) : undefined;
      test.done();
      return result;
    };
  }

  unreached_func(description) {
    return this.step_func(() => assert_unreached(description));
  }

  step_timeout(func, ms, ...args) {
    return setTimeout(this.step_func(() => func(...args)), ms);
  }

  step_wait_func(cond, func, description, timeout = 3000, interval = 100) {
    const started = Date.now();
    const poll = this.step_func(() => {
      if (cond()) func();
      else if (Date.now() - started > timeout) assert_unreached(description);
      else setTimeout(poll, interval);
    });
    poll();
  }

  step_wait(cond, description, timeout, interval) {
    return new Promise((resolve) => this.step_wait_func(cond, resolve, description, timeout, interval));
  }

  add_cleanup(func) {
    this.cleanups.push(func);
  }

  fail(error) {
    if (this.status) return;
    if (error instanceof OptionalFeatureUnsupportedError) {
      this.status = 'PRECONDITION_FAILED';
    } else {
      this.status = 'FAIL';
    }
    this.message = error && error.message !== undefined ? String(error.message) : format_value(error);
    this.finish();
  }

  done() {
    if (!this.status) this.status = 'PASS';
    this.finish();
  }

  finish() {
    const cleanups = this.cleanups;
    this.cleanups = [];
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch {
        // A failing cleanup does not change the test's result.
      }
    }
    this.resolve();
  }
}

function test(func, name = __wptTitle) {
  const t = new Test(name);
  t.step(func, t, t);
  t.done();
  return t;
}

function async_test(func, name) {
  if (typeof func !== 'function') {
    name = func;
    func = null;
  }
  const t = new Test(name === undefined ? __wptTitle : name);
  __wptWaiting.push(t);
  if (func) t.step(func, t, t);
  return t;
}

// `generate_tests(func, [[name, ...args], ...])`: one test per row, func called with the args.
function generate_tests(func, rows, properties) {
  rows.forEach((row, i) => {
    const [name, ...args] = row;
    test(function () {
      return func.apply(this, args);
    }, name, Array.isArray(properties) ? properties[i] : properties);
  });
}

function promise_test(func, name = __wptTitle) {
  __wptPromiseTests.push({ func, name });
}

// `setup({ single_test: true })`: the whole file is one test, which `done()` passes.
let __wptSingle = null;

function setup(funcOrOptions, maybeOptions) {
  const options = typeof funcOrOptions === 'function' ? maybeOptions : funcOrOptions;
  if (options && options.single_test && !__wptSingle) {
    __wptSingle = new Test(__wptTitle);
    __wptWaiting.push(__wptSingle);
  }
  if (typeof funcOrOptions === 'function') funcOrOptions();
}

function promise_setup(func) {
  __wptPromiseTests.push({ func, setup: true });
}

function done() {
  if (__wptSingle) __wptSingle.done();
}
function add_completion_callback() {}
function add_result_callback() {}
function add_start_callback() {}
function step_timeout(func, ms, ...args) {
  return setTimeout(() => func(...args), ms);
}

function __wptTimeout(test, ms) {
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => {
      if (!test.status) {
        test.status = 'TIMEOUT';
        test.message = `no result after ${ms} ms`;
        test.finish();
      }
      resolve();
    }, ms);
  });
  return Promise.race([test.finished, expired]).then(() => clearTimeout(timer));
}

async function __wptFinish(timeoutMs) {
  // Promise tests run one after another, after the file's synchronous part, as in testharness.js.
  for (const entry of __wptPromiseTests) {
    if (entry.setup) {
      try {
        await entry.func();
      } catch (e) {
        __wptError = `promise_setup failed: ${e && e.message}`;
        break;
      }
      continue;
    }
    const t = new Test(entry.name);
    let returned;
    try {
      returned = entry.func.call(t, t);
    } catch (e) {
      t.fail(e);
      continue;
    }
    if (!returned || typeof returned.then !== 'function') {
      t.fail(new AssertionError('promise_test: test body did not return a promise'));
      continue;
    }
    Promise.resolve(returned).then(() => t.done(), (e) => t.fail(e));
    await __wptTimeout(t, timeoutMs);
  }
  await Promise.all(__wptWaiting.map((t) => __wptTimeout(t, timeoutMs)));
  const seen = new Map();
  const tests = __wptTests.map((t) => {
    // Two subtests of one name are told apart by their order, as a results list would.
    const count = (seen.get(t.name) || 0) + 1;
    seen.set(t.name, count);
    const name = count > 1 ? `${t.name} (#${count})` : String(t.name);
    return { name, status: t.status || 'NOTRUN', message: t.message };
  });
  return { tests, error: __wptError };
}
