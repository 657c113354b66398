// The DOM standard: DOMException, Event, EventTarget, AbortController and AbortSignal.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, Array, Error, TypeError, Symbol, WeakMap, Map, String, Date, P, slot, hidden, tag, getters, needArgs, report } = web;

  const DOM_CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
    QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };

  class DOMException extends Error {
    constructor(message = '', options = 'Error') {
      super(String(message));
      let name = options;
      if (options !== null && typeof options === 'object') {
        name = options.name === undefined ? 'Error' : options.name;
        if ('cause' in options) hidden(this, 'cause', options.cause);
      }
      name = String(name);
      hidden(this, 'name', name);
      P.set(this, { name });
    }
    // Brand-checked, as WebIDL attributes are (the prototype itself has no code).
    get code() { return DOM_CODES[slot(this).name] || 0; }
  }
  Object.defineProperty(DOMException.prototype, 'code', { enumerable: true });
  // The legacy code constants, on the interface and its prototype (enumerable, read-only).
  const LEGACY_CODES = [
    'INDEX_SIZE_ERR', 'DOMSTRING_SIZE_ERR', 'HIERARCHY_REQUEST_ERR', 'WRONG_DOCUMENT_ERR', 'INVALID_CHARACTER_ERR',
    'NO_DATA_ALLOWED_ERR', 'NO_MODIFICATION_ALLOWED_ERR', 'NOT_FOUND_ERR', 'NOT_SUPPORTED_ERR', 'INUSE_ATTRIBUTE_ERR',
    'INVALID_STATE_ERR', 'SYNTAX_ERR', 'INVALID_MODIFICATION_ERR', 'NAMESPACE_ERR', 'INVALID_ACCESS_ERR',
    'VALIDATION_ERR', 'TYPE_MISMATCH_ERR', 'SECURITY_ERR', 'NETWORK_ERR', 'ABORT_ERR', 'URL_MISMATCH_ERR',
    'QUOTA_EXCEEDED_ERR', 'TIMEOUT_ERR', 'INVALID_NODE_TYPE_ERR', 'DATA_CLONE_ERR',
  ];
  for (const target of [DOMException, DOMException.prototype]) {
    LEGACY_CODES.forEach((key, i) => Object.defineProperty(target, key, { value: i + 1, enumerable: true }));
  }
  tag(DOMException);

  const now = () => (globalThis.performance && typeof globalThis.performance.now === 'function' ? globalThis.performance.now() : Date.now());

  class Event {
    constructor(type, init) {
      needArgs(arguments, 1, "Failed to construct 'Event'");
      init = init ?? {};
      P.set(this, {
        type: String(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable, composed: !!init.composed,
        defaultPrevented: false, stop: false, stopPropagation: false, trusted: false, target: null, currentTarget: null, eventPhase: 0,
        timeStamp: now(), dispatching: false, inPassive: false,
      });
    }
    get srcElement() { return slot(this).target; }
    get returnValue() { return !slot(this).defaultPrevented; }
    set returnValue(v) { if (!v) this.preventDefault(); }
    get isTrusted() { return slot(this).trusted; }
    // A passive listener cannot cancel (the DOM standard's "in passive listener" flag).
    preventDefault() { const s = slot(this); if (s.cancelable && !s.inPassive) s.defaultPrevented = true; }
    stopPropagation() { slot(this).stopPropagation = true; }
    stopImmediatePropagation() { const s = slot(this); s.stop = s.stopPropagation = true; }
    composedPath() { const s = slot(this); return s.currentTarget ? [s.currentTarget] : []; }
    get cancelBubble() { return slot(this).stopPropagation === true; }
    set cancelBubble(value) { if (value) slot(this).stopPropagation = true; }
    // The legacy initializer: re-initializes an event that is not being dispatched.
    initEvent(type, bubbles = false, cancelable = false) {
      needArgs(arguments, 1, "Failed to execute 'initEvent' on 'Event'");
      const s = slot(this);
      if (s.dispatching) return;
      Object.assign(s, {
        type: String(type), bubbles: !!bubbles, cancelable: !!cancelable,
        defaultPrevented: false, stop: false, stopPropagation: false, trusted: false, target: null,
      });
    }
  }
  getters(Event, ['type', 'bubbles', 'cancelable', 'composed', 'defaultPrevented', 'target', 'currentTarget', 'eventPhase', 'timeStamp']);
  Object.assign(Event, { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 });
  tag(Event);

  class CustomEvent extends Event {
    constructor(type, init) {
      needArgs(arguments, 1, "Failed to construct 'CustomEvent'");
      super(type, init);
      slot(this).detail = init != null && init.detail !== undefined ? init.detail : null;
    }
    get detail() { return slot(this).detail; }
    initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
      needArgs(arguments, 1, "Failed to execute 'initCustomEvent' on 'CustomEvent'");
      if (slot(this).dispatching) return;
      this.initEvent(type, bubbles, cancelable);
      slot(this).detail = detail;
    }
  }
  tag(CustomEvent);

  const LISTENERS = new WeakMap();
  const listeners = (o) => {
    const m = LISTENERS.get(o);
    if (!m) throw new TypeError('Illegal invocation');
    return m;
  };
  const captureOf = (opts) => (typeof opts === 'boolean' ? opts : !!(opts && opts.capture));

  class EventTarget {
    constructor() { LISTENERS.set(this, new Map()); }
    addEventListener(type, callback, options) {
      const map = listeners(this);
      type = String(type);
      // The options are converted (each member read once, in WebIDL's order: capture, once,
      // passive, signal) before a null callback is ignored.
      const capture = captureOf(options);
      const obj = options !== null && typeof options === 'object' ? options : {};
      const once = !!obj.once;
      const passive = !!obj.passive;
      const signal = obj.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type AbortSignal.");
      }
      if (callback == null) return;
      if (signal && signal.aborted) return;
      let list = map.get(type);
      if (!list) map.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      list.push({ callback, capture, once, passive, removed: false });
      if (signal) signal.addEventListener('abort', () => this.removeEventListener(type, callback, capture));
    }
    removeEventListener(type, callback, options) {
      const map = listeners(this);
      type = String(type);
      const capture = captureOf(options);
      const list = map.get(type);
      if (!list) return;
      const i = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (i >= 0) list.splice(i, 1)[0].removed = true;
    }
    dispatchEvent(event) {
      const map = listeners(this);
      if (!(event instanceof Event)) throw new TypeError('The "event" argument must be an instance of Event.');
      const s = slot(event);
      if (s.dispatching) throw new DOMException('The event is already being dispatched.', 'InvalidStateError');
      s.dispatching = true;
      s.target = s.currentTarget = this;
      s.eventPhase = 2;
      for (const l of (map.get(s.type) || []).slice()) {
        if (l.removed) continue;
        if (l.once) this.removeEventListener(s.type, l.callback, l.capture);
        s.inPassive = l.passive;
        try {
          if (typeof l.callback === 'function') l.callback.call(this, event);
          else l.callback.handleEvent(event);
        } catch (e) {
          report(e); // a throwing listener must not stop the dispatch or the dispatcher
        }
        s.inPassive = false;
        if (s.stop) break;
      }
      s.currentTarget = null;
      s.eventPhase = 0;
      s.dispatching = false;
      // The flags are cleared for a later dispatch of the same event.
      s.stop = s.stopPropagation = false;
      return !s.defaultPrevented;
    }
  }
  tag(EventTarget);


  const INTERNAL = Symbol('internal');

  // Fired by the platform, not by script: a trusted event.
  function fireAbort(signal) {
    const event = new Event('abort');
    slot(event).trusted = true;
    signal.dispatchEvent(event);
  }

  // DOM's "signal abort": the signal and the signals AbortSignal.any made of it are all aborted
  // before any abort event fires, then the events fire, the signal's first and its dependents'
  // in the order they were made.
  function abortSignal(signal, reason) {
    const s = slot(signal);
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    const dependents = [];
    for (const dependent of s.dependents) {
      const d = slot(dependent);
      if (d.aborted) continue;
      d.aborted = true;
      d.reason = s.reason;
      dependents.push(dependent);
    }
    s.dependents = [];
    fireAbort(signal);
    for (const dependent of dependents) fireAbort(dependent);
  }

  class AbortSignal extends EventTarget {
    constructor(key) {
      if (key !== INTERNAL) throw new TypeError('Illegal constructor');
      super();
      // A signal AbortSignal.any made (dependent) follows its source signals, never another
      // dependent signal; a source knows its dependents, to abort them with it.
      P.set(this, { aborted: false, reason: undefined, onabort: null, handlerInstalled: false, dependent: false, sources: [], dependents: [] });
    }
    get aborted() { return slot(this).aborted; }
    get reason() { return slot(this).reason; }
    get onabort() { return slot(this).onabort; }
    set onabort(fn) {
      const s = slot(this);
      s.onabort = typeof fn === 'function' ? fn : null;
      if (!s.handlerInstalled) {
        s.handlerInstalled = true;
        this.addEventListener('abort', (e) => { if (s.onabort) s.onabort.call(this, e); });
      }
    }
    throwIfAborted() {
      const s = slot(this);
      if (s.aborted) throw s.reason;
    }
    static abort(reason) {
      const signal = new AbortSignal(INTERNAL);
      abortSignal(signal, reason);
      return signal;
    }
    static timeout(ms) {
      const signal = new AbortSignal(INTERNAL);
      globalThis.setTimeout(() => abortSignal(signal, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
      return signal;
    }
    static any(signals) {
      const list = Array.from(signals, (s) => {
        if (!P.has(s) || !(s instanceof AbortSignal)) throw new TypeError('AbortSignal.any takes a sequence of AbortSignals');
        return s;
      });
      const signal = new AbortSignal(INTERNAL);
      const result = slot(signal);
      const done = list.find((s) => s.aborted);
      if (done) {
        result.aborted = true;
        result.reason = done.reason;
        return signal;
      }
      result.dependent = true;
      for (const s of list) {
        const given = slot(s);
        for (const source of given.dependent ? given.sources : [s]) {
          if (result.sources.includes(source)) continue;
          result.sources.push(source);
          slot(source).dependents.push(signal);
        }
      }
      return signal;
    }
  }
  tag(AbortSignal);

  class AbortController {
    constructor() { P.set(this, { signal: new AbortSignal(INTERNAL) }); }
    get signal() { return slot(this).signal; }
    abort(reason) { abortSignal(slot(this).signal, reason); }
  }
  tag(AbortController);

  Object.assign(web, { DOMException, Event, CustomEvent, EventTarget, LISTENERS, AbortController, AbortSignal });
})
