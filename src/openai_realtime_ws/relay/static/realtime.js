// realtime.js: the browser counterpart of openai-realtime-ws's Python client (and of openai-node's
// OpenAIRealtimeWebSocket), as one dependency-free ES module. It owns: the URL and credential
// rules (the same as the Python client's core.handshake), the `openai-insecure-api-key.<key>`
// subprotocol for ephemeral `ek_` keys (and relay session tokens), the refusal of real keys in a
// browser unless dangerouslyAllowBrowser is set, the event emitter (`event` catch-all, normalised
// `error`) and opt-in reconnection with backoff (`reconnect: true`, the Python client's policy).
//
//   import { RealtimeWebSocket } from "/realtime.js";
//   const rt = await RealtimeWebSocket.create({ relay: "/realtime" });          // through the relay
//   const rt = await RealtimeWebSocket.create({ model: "gpt-realtime", key: ek }); // direct, ek_ key
//   rt.on("response.output_text.delta", (e) => out.append(e.delta));
//   rt.send({ type: "response.create" });
//   await rt.close();

export const DEFAULT_BASE_URL = "https://api.openai.com/v1";

/** Every error this module throws or emits. */
export class RealtimeError extends Error {
  constructor(message, fields = {}) {
    super(message);
    this.name = new.target.name;
    Object.assign(this, fields);
  }
}
/** Local misuse: a bad option, URL or credential (nothing was opened). */
export class RealtimeConfigError extends RealtimeError {}
/** send() refused an event (nothing was sent); `.field` names what was wrong. */
export class InvalidClientEvent extends RealtimeError {}
/** An API `error` event: `.type`, `.code`, `.param`, `.eventId` (the error event's own id, as
 * openai-node and the Python client's `event_id`), `.clientEventId` (the id of the client event
 * it refuses: `error.event_id`), `.error`. */
export class RealtimeAPIError extends RealtimeError {}
/** The server sent something that is not a Realtime event (the payload is never shown). */
export class MalformedFrameError extends RealtimeError {}
/** A listener threw; the original is `.cause`. */
export class HandlerError extends RealtimeError {}
/** The socket is closed: `.code`, `.reason`. */
export class ConnectionClosedError extends RealtimeError {}

const SENSITIVE_QUERY = new Set([
  "api-key", "apikey", "x-api-key", "key", "token", "access-token", "id-token", "refresh-token",
  "session-token", "client-secret", "password", "passwd", "pwd", "secret", "sig", "signature",
  "code", "authorization", "auth", "bearer", "jwt", "ek", "ephemeral-key", "client-key",
  "private-key", "access-key", "secret-key", "credential", "credentials", "x-amz-signature",
  "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
  "x-ms-signature",
]);
const SECRET_VALUE = /^(?:Bearer\s+)?(?:sk-[A-Za-z0-9_-]{8,}|ek_[0-9A-Za-z]{16,})/i;

/** 127.0.0.0/8, ::1 and localhost (and its subdomains) are loopback. */
export function isLoopbackHost(host) {
  if (!host) return false;
  host = String(host).replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (host === "::1" || host === "0:0:0:0:0:0:0:1") return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return !!m && m.slice(1).every((p) => Number(p) <= 255) && Number(m[1]) === 127;
}

/** Refuse URLs that could leak a credential; return the URL unchanged when it is safe. */
export function checkWsUrl(url) {
  let parts;
  try {
    parts = new URL(url);
  } catch {
    throw new RealtimeConfigError("invalid WebSocket URL: it could not be parsed.");
  }
  const scheme = parts.protocol.replace(/:$/, "");
  if (scheme !== "wss" && scheme !== "ws") {
    throw new RealtimeConfigError(`the Realtime URL must use wss:// (got ${scheme || "no"} scheme).`);
  }
  if (!parts.hostname) throw new RealtimeConfigError("the Realtime URL has no host.");
  if (scheme === "ws" && !isLoopbackHost(parts.hostname)) {
    throw new RealtimeConfigError(
      "refusing plain ws:// to a non-loopback host: a credential would travel unencrypted; " +
      "use wss:// (plain ws:// is allowed only for 127.0.0.0/8, ::1 and localhost).");
  }
  if (parts.username || parts.password) {
    throw new RealtimeConfigError("credentials must not be embedded in the Realtime URL.");
  }
  for (const [key, value] of parts.searchParams) {
    if (SENSITIVE_QUERY.has(key.toLowerCase().replace(/_/g, "-")) || SECRET_VALUE.test(value)) {
      const shown = /^[\x20-\x7e]{1,40}$/.test(key) ? key : "<unprintable>";
      throw new RealtimeConfigError(
        `the Realtime URL must not carry a credential in its query (parameter '${shown}'); ` +
        "pass it with key: so that it goes in the subprotocol.");
    }
  }
  return url;
}

function httpToWs(url) {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  const scheme = m ? m[1].toLowerCase() : "";
  const mapped = { https: "wss", http: "ws", wss: "wss", ws: "ws" }[scheme];
  if (!mapped) {
    throw new RealtimeConfigError(`base URL must start with https:// or http:// (got scheme '${scheme}').`);
  }
  return mapped + url.slice(scheme.length);
}

/** The exact target: exactly one of model, callId, intent ("transcription"). */
function targetQuery({ model, callId, intent }) {
  const given = [model, callId, intent].filter((v) => v !== undefined && v !== null);
  if (given.length !== 1) {
    throw new RealtimeConfigError("pass exactly one of model, callId or intent.");
  }
  if (intent !== undefined && intent !== null && intent !== "transcription") {
    throw new RealtimeConfigError(`intent must be 'transcription' (got '${String(intent).slice(0, 40)}').`);
  }
  if (model != null) return `model=${encodeURIComponent(model)}`;
  if (callId != null) return `call_id=${encodeURIComponent(callId)}`;
  return "intent=transcription";
}

/** `wss://…/realtime?model=…` from a base URL (https → wss, http → ws), like the Python client. */
export function buildRealtimeUrl({ baseURL = DEFAULT_BASE_URL, websocketBaseURL, model, callId, intent, urlBuilder } = {}) {
  const target = { model, callId, intent };
  const query = targetQuery(target);
  if (urlBuilder) {
    const url = String(urlBuilder({ baseURL, websocketBaseURL }, target));
    if (!/^wss?:\/\//i.test(url)) {
      throw new RealtimeConfigError("urlBuilder must return a wss:// URL.");
    }
    return checkWsUrl(url);
  }
  const base = httpToWs(websocketBaseURL || baseURL).replace(/\/+$/, "");
  return checkWsUrl(`${base}/realtime?${query}`);
}

/** Where a relay path ("/realtime", "wss://host/rt/realtime") points, from this page. */
export function relayUrl(relay, model) {
  const page = typeof location !== "undefined" ? location.href : "http://localhost/";
  const url = new URL(relay === true ? "realtime" : relay, page);
  url.protocol = { "https:": "wss:", "http:": "ws:", "wss:": "wss:", "ws:": "ws:" }[url.protocol] || url.protocol;
  if (model && !url.searchParams.has("model")) url.searchParams.set("model", model);
  return url.toString();
}

export function isRunningInBrowser() {
  return typeof window !== "undefined" && typeof document !== "undefined" && typeof navigator !== "undefined";
}

function bytesToBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Base64 of PCM16 audio (an Int16Array, ArrayBuffer or Uint8Array), as input_audio_buffer.append takes it. */
export function audioToBase64(pcm) {
  if (pcm instanceof ArrayBuffer) return bytesToBase64(new Uint8Array(pcm));
  return bytesToBase64(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
}

/** Int16Array of the base64 audio in an output audio delta. */
export function base64ToPcm16(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length - (bin.length % 2));
  for (let i = 0; i < bytes.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Int16Array(bytes.buffer);
}

/** on / once / off with the `event` catch-all (every server event, before its own listeners). */
export class RealtimeEmitter {
  #listeners = new Map();

  on(type, fn) {
    if (typeof fn !== "function") throw new TypeError("on(type, listener): listener must be a function");
    const list = this.#listeners.get(type) || [];
    list.push({ fn, once: false });
    this.#listeners.set(type, list);
    return this;
  }

  once(type, fn) {
    this.on(type, fn);
    const list = this.#listeners.get(type);
    list[list.length - 1].once = true;
    return this;
  }

  /** Remove one listener, or every listener of `type` when `fn` is omitted. */
  off(type, fn) {
    if (fn === undefined) this.#listeners.delete(type);
    else {
      const list = (this.#listeners.get(type) || []).filter((l) => l.fn !== fn);
      if (list.length) this.#listeners.set(type, list);
      else this.#listeners.delete(type);
    }
    return this;
  }

  listenerCount(type) {
    return (this.#listeners.get(type) || []).length;
  }

  /** Call the listeners of `type` in order; a listener that throws becomes a HandlerError. */
  _emit(type, arg) {
    const list = this.#listeners.get(type);
    if (!list) return;
    const live = list.filter((l) => !l.once);
    if (live.length !== list.length) {
      if (live.length) this.#listeners.set(type, live);
      else this.#listeners.delete(type);
    }
    for (const l of list) {
      try {
        const result = l.fn(arg);
        if (result && typeof result.then === "function") {
          result.then(undefined, (exc) => this._handlerFailed(type, exc));
        }
      } catch (exc) {
        this._handlerFailed(type, exc);
      }
    }
  }

  _handlerFailed(type, exc) {
    if (type === "error") {
      console.error("realtime.js: an 'error' listener threw", exc);
      return;
    }
    this._error(new HandlerError(`a '${type}' listener threw: ${exc && exc.message ? exc.message : exc}`,
      { eventType: type, cause: exc }));
  }

  /** Deliver an error to `error` listeners; with none, it is reported, never silent. */
  _error(err) {
    if (this.listenerCount("error") > 0) this._emit("error", err);
    else if (typeof reportError === "function") reportError(err);
    else console.error(err);
  }
}

/** Close codes after which a reconnecting RealtimeWebSocket opens a new socket (the Python
 * client's core.reconnect.RECOVERABLE_CLOSE_CODES: going away, no close frame, server error,
 * service restart, try again later, TLS). */
export const RECOVERABLE_CLOSE_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1015]);

/** The reconnect policy from `reconnect: true | {maxAttempts, initialDelay, maxDelay, factor,
 * jitter}` (seconds, the Python client's ReconnectPolicy defaults); null when off. */
export function reconnectPolicy(option) {
  if (option === undefined || option === null || option === false) return null;
  if (option !== true && (typeof option !== "object" || Array.isArray(option))) {
    throw new RealtimeConfigError("reconnect: expected true or an object {maxAttempts, initialDelay, maxDelay, factor, jitter}.");
  }
  const p = { maxAttempts: 8, initialDelay: 0.25, maxDelay: 15, factor: 2, jitter: true, ...(option === true ? {} : option) };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1) {
    throw new RealtimeConfigError(`reconnect.maxAttempts: expected an integer >= 1 (got ${String(p.maxAttempts).slice(0, 20)}).`);
  }
  for (const name of ["initialDelay", "maxDelay"]) {
    if (typeof p[name] !== "number" || !(p[name] >= 0)) {
      throw new RealtimeConfigError(`reconnect.${name}: expected seconds >= 0 (got ${String(p[name]).slice(0, 20)}).`);
    }
  }
  if (typeof p.factor !== "number" || !(p.factor >= 1)) {
    throw new RealtimeConfigError(`reconnect.factor: expected a number >= 1 (got ${String(p.factor).slice(0, 20)}).`);
  }
  return p;
}

/** Seconds before reconnect attempt `attempt` (1-based): initialDelay * factor^(attempt-1),
 * capped at maxDelay; with jitter a uniform random fraction of it ("full jitter"), so that the
 * pages a restarted relay dropped do not all come back at once. Same rule as the Python client. */
export function reconnectDelay(policy, attempt, random = Math.random) {
  const base = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
  return policy.jitter ? random() * base : base;
}

/**
 * One Realtime session over a WebSocket: to the API (or any gateway) with an ephemeral key,
 * or to an openai-realtime-ws relay that holds the key on the server.
 *
 * Local events: `open` ({reconnects}) each time a socket opens: once before create() resolves,
 * and again after every reconnect; a listener added while the socket is open is called at once
 * (in a microtask), so `rt.on("open", fn)` after `await create()` runs fn. `close`
 * ({code, reason, wasClean}) once, when the connection ends for good. With `reconnect:` on, an
 * abnormal close (RECOVERABLE_CLOSE_CODES) of a socket that was open emits `reconnecting`
 * ({type: "reconnecting", attempt, delay, close_code}) before each attempt and `reconnected`
 * ({type: "reconnected", attempt, newSession: true}) once a new socket is open: that is a NEW
 * session (a relay opens a fresh upstream; the conversation is not carried over); `close` comes
 * only after the last attempt failed. A relay's own upstream reconnects (the same session goes
 * on) arrive as `relay.reconnecting` / `relay.reconnected` events and also as `reconnecting` /
 * `reconnected` with that `type`.
 */
export class RealtimeWebSocket extends RealtimeEmitter {
  /**
   * create({relay}) | create({url, key}) | create({model|callId|intent, key, baseURL, websocketBaseURL, urlBuilder})
   * `key` is a string or a (sync or async) function returning one (called again before each
   * reconnect). Towards the API a key that is not an ephemeral `ek_…` secret is refused in a
   * browser unless `dangerouslyAllowBrowser: true`; towards a relay any token is fine (the relay
   * reads it in its authentication hook and never forwards it). `reconnect: true` (or a policy
   * object) turns reconnection on. Resolves once the first socket is open; rejects if it cannot
   * be opened (no reconnect for a first connection).
   */
  static async create(options = {}) {
    const rt = new RealtimeWebSocket(options, await resolveKey(options.key));
    await rt.#opened;
    return rt;
  }

  #socket;
  #opened;
  #closed;
  #resolveClosed;
  #closeInfo = null;
  #Socket;
  #keySource;
  #policy;
  #userClosed = null; // {code, reason} once close() was called
  #reconnecting = false;
  #wake = null; // ends a reconnect delay early (close() during it)
  /** How many times a new socket was opened after an abnormal close. */
  reconnects = 0;

  constructor(options = {}, key = undefined) {
    super();
    const { relay, url, model, callId, intent, dangerouslyAllowBrowser = false, WebSocket: WS } = options;
    if (relay !== undefined && url !== undefined) {
      throw new RealtimeConfigError("pass relay or url, not both.");
    }
    if (typeof key === "function") {
      throw new RealtimeConfigError("a key function must be resolved first: use RealtimeWebSocket.create().");
    }
    checkKey(key);
    let target;
    if (relay !== undefined) {
      target = relayUrl(relay, model);
      if (key) checkWsUrl(target);
    } else {
      if (!key) {
        throw new RealtimeConfigError(
          "no key: pass key: (an ephemeral ek_… secret minted by your server) or connect through a relay with relay:.");
      }
      target = url !== undefined ? checkWsUrl(String(url)) : buildRealtimeUrl({ ...options, model, callId, intent });
    }
    if (key && relay === undefined && !key.startsWith("ek_") && isRunningInBrowser() && !dangerouslyAllowBrowser) {
      throw new RealtimeConfigError(
        "It looks like you're running in a browser-like environment, and this key is not an " +
        "ephemeral client secret (ek_…). A real API key in a browser is visible to anyone who " +
        "opens the page: mint an ephemeral key on your server (or use the relay), or pass " +
        "dangerouslyAllowBrowser: true if you understand the risk.");
    }
    this.#policy = reconnectPolicy(options.reconnect);
    this.#keySource = options.key === undefined ? key : options.key;
    this.url = target;
    this.#Socket = WS || globalThis.WebSocket;
    this.#closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
    this.#opened = this.#open(key);
    this.#opened.catch(() => {});
  }

  /** Open one socket; resolves when it is open, rejects (ConnectionClosedError) if it closes first. */
  #open(key) {
    const protocols = ["realtime"];
    if (key) protocols.push(`openai-insecure-api-key.${key}`);
    const socket = new this.#Socket(this.url, protocols);
    this.#socket = socket;
    return new Promise((resolve, reject) => {
      let wasOpen = false;
      socket.addEventListener("open", () => {
        wasOpen = true;
        if (this.#userClosed) {
          socket.close(this.#userClosed.code, this.#userClosed.reason);
          return;
        }
        this._emit("open", { reconnects: this.reconnects + (this.#reconnecting ? 1 : 0) });
        resolve();
      }, { once: true });
      socket.addEventListener("close", (e) => {
        if (!wasOpen) {
          reject(new ConnectionClosedError("the WebSocket could not be opened (refused or unreachable).",
            { code: e.code || 1006 }));
        }
        this.#onSocketClose(socket, e, wasOpen);
      }, { once: true });
      socket.addEventListener("message", (e) => { if (socket === this.#socket) this.#onMessage(e.data); });
    });
  }

  #onSocketClose(socket, e, wasOpen) {
    if (socket !== this.#socket) return;
    const info = { code: e.code, reason: e.reason, wasClean: e.wasClean };
    if (this.#reconnecting && !wasOpen) return; // a failed attempt: the reconnect loop goes on
    if (wasOpen && !this.#userClosed && this.#policy && RECOVERABLE_CLOSE_CODES.has(e.code)) {
      this.#reconnect(info);
      return;
    }
    this.#finish(info);
  }

  #finish(info) {
    if (this.#closeInfo !== null) return;
    this.#reconnecting = false;
    this.#closeInfo = info;
    this._emit("close", info);
    this.#resolveClosed(info);
  }

  async #reconnect(last) {
    this.#reconnecting = true;
    let closeCode = last.code;
    for (let attempt = 1; attempt <= this.#policy.maxAttempts; attempt++) {
      const delay = reconnectDelay(this.#policy, attempt);
      this._emit("reconnecting", { type: "reconnecting", attempt, delay, close_code: closeCode });
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay * 1000);
        this.#wake = () => { clearTimeout(timer); resolve(); };
      });
      this.#wake = null;
      if (this.#userClosed) return;
      try {
        await this.#open(await resolveKey(this.#keySource));
      } catch (exc) {
        if (this.#userClosed) return;
        closeCode = exc && exc.code ? exc.code : 1006;
        continue;
      }
      if (this.#userClosed) return;
      this.#reconnecting = false;
      this.reconnects += 1;
      this._emit("reconnected", { type: "reconnected", attempt, newSession: true });
      return;
    }
    this.#finish({ code: closeCode, reason: last.reason, wasClean: false });
  }

  /** `open` listeners added while the socket is open are called at once (see the class comment). */
  on(type, fn) {
    super.on(type, fn);
    if (type === "open" && this.#isOpen()) this.#openSoon(fn);
    return this;
  }

  once(type, fn) {
    if (type === "open" && this.#isOpen()) {
      if (typeof fn !== "function") throw new TypeError("once(type, listener): listener must be a function");
      this.#openSoon(fn);
      return this;
    }
    return super.once(type, fn);
  }

  #isOpen() {
    return Boolean(this.#socket && this.#socket.readyState === 1 && !this.#reconnecting);
  }

  /** Call an `open` listener added while the socket is open, in a microtask. */
  #openSoon(fn) {
    const info = { reconnects: this.reconnects };
    queueMicrotask(() => {
      try {
        fn(info);
      } catch (exc) {
        this._handlerFailed("open", exc);
      }
    });
  }

  /** The underlying WebSocket (a new one after each reconnect). */
  get socket() { return this.#socket; }
  get readyState() { return this.#socket.readyState; }
  get closed() { return this.#closeInfo !== null; }
  /** Whether a reconnect is under way (send() throws until `reconnected`). */
  get reconnecting() { return this.#reconnecting; }
  get closeCode() { return this.#closeInfo ? this.#closeInfo.code : null; }
  get closeReason() { return this.#closeInfo ? this.#closeInfo.reason : ""; }

  #onMessage(data) {
    if (typeof data !== "string") {
      this._error(new MalformedFrameError("the server sent a binary frame; expected a JSON text event."));
      return;
    }
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      this._error(new MalformedFrameError(`the server sent a frame that is not JSON (${data.length} characters).`));
      return;
    }
    if (event === null || typeof event !== "object" || Array.isArray(event) || typeof event.type !== "string") {
      this._error(new MalformedFrameError("the server sent a JSON value that is not an object with a string type."));
      return;
    }
    this._emit("event", event);
    if (event.type === "error") {
      const e = event.error && typeof event.error === "object" ? event.error : {};
      const str = (v) => (typeof v === "string" ? v : v == null ? null : String(v));
      this._error(new RealtimeAPIError(str(e.message) || "unknown error", {
        type: str(e.type), code: str(e.code), param: str(e.param), eventId: str(event.event_id),
        clientEventId: str(e.event_id),
        error: e, event,
      }));
      return;
    }
    if (event.type === "relay.reconnecting") this._emit("reconnecting", event);
    else if (event.type === "relay.reconnected") this._emit("reconnected", event);
    this._emit(event.type, event);
  }

  /** Send one client event (an object with a string `type`). */
  send(event) {
    if (event === null || typeof event !== "object" || Array.isArray(event)) {
      throw new InvalidClientEvent("send(event): expected an object with a string `type`.", { field: "" });
    }
    if (typeof event.type !== "string" || !event.type) {
      throw new InvalidClientEvent("send(event): `type` must be a non-empty string.", { field: "type" });
    }
    let text;
    try {
      text = JSON.stringify(event);
    } catch (exc) {
      throw new InvalidClientEvent(`send(event): the event cannot be encoded as JSON (${exc.message}).`, { field: "" });
    }
    if (this.#socket.readyState !== 1) {
      if (this.#reconnecting) {
        throw new ConnectionClosedError("the Realtime connection is reconnecting; send again after `reconnected`.",
          { code: null, reconnecting: true });
      }
      throw new ConnectionClosedError("the Realtime connection is closed.", this.#closeInfo || { code: null });
    }
    this.#socket.send(text);
  }

  /** input_audio_buffer.append with PCM16 audio (Int16Array / ArrayBuffer / Uint8Array). */
  sendAudio(pcm) {
    this.send({ type: "input_audio_buffer.append", audio: audioToBase64(pcm) });
  }

  /** Close with `code` (1000) and `reason`; resolves with {code, reason} once the socket is closed. */
  close(code = 1000, reason = "OK") {
    if (this.#closeInfo === null && !this.#userClosed) {
      this.#userClosed = { code, reason };
      if (this.#reconnecting) {
        // between two sockets: stop trying; the connection ends here
        if (this.#socket.readyState < 2) this.#socket.close(code, reason);
        if (this.#wake) this.#wake();
        this.#finish({ code, reason, wasClean: true });
      } else if (this.#socket.readyState < 2) {
        this.#socket.close(code, reason);
      }
    }
    return this.#closed;
  }
}

function checkKey(key) {
  if (key !== undefined && key !== null && typeof key !== "string") {
    throw new RealtimeConfigError(`key: expected a string or a function returning one (got ${typeof key}).`);
  }
  if (key && /[\s,]/.test(key)) {
    throw new RealtimeConfigError("key: it contains spaces or commas and cannot travel in a subprotocol.");
  }
}

async function resolveKey(key) {
  if (typeof key === "function") {
    key = await key();
    checkKey(key);
  }
  return key;
}

export default RealtimeWebSocket;
