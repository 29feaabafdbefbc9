// console.js: the relay's web console. Talk with the microphone, hear the reply, interrupt it;
// live transcript; an event log with filters and the JSON of each event; session settings;
// latency per turn (end of your speech at the microphone → first reply audio out of the
// speakers); connection status with reconnects: the relay's upstream reconnects (same session)
// and the page's own (realtime.js `reconnect: true`: after any abnormal close, 1006 included, a
// new session, marked in the transcript).
// Built only on realtime.js and realtime-audio.js. `window.realtimeConsole` exposes its state
// (used by the browser tests).

import { RealtimeWebSocket } from "./realtime.js";
import { AudioPlayer, attachPlayback, bargeInEvents, startMicrophone } from "./realtime-audio.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const MAX_LOG = 3000;

const state = {
  status: "disconnected",
  reconnects: 0,
  restarts: 0, // relay restarts (close 1012) after which the console connected again
  sessions: 0, // sessions this page opened (a reconnect of the page's socket is a new session)
  pageReconnects: 0, // new sockets after an abnormal close (1006, 1011, 1012, ...)
  userClosed: false,
  log: [], // {n, t, dir, type, event}
  turns: [], // {turn, ms}
  interruptions: [], // {stop, events}
  transcript: [], // {role, itemId, text, truncated}
  errors: [],
  rt: null,
  player: null,
  mic: null,
  micT0: null,
  lastVoiceAt: null, // performance time of the end of the last mic frame with speech in it
  speechEndAt: null,
  serverEndAt: null,
};
window.realtimeConsole = state;

function setStatus(s, detail = "") {
  state.status = s;
  const el = $("status");
  el.textContent = detail ? `${s} ${detail}` : s;
  el.dataset.state = s;
  el.className = "pill " + ({ connected: "on", connecting: "wait", reconnecting: "wait" }[s] || "off");
  $("reconnects").textContent = state.reconnects ? `${state.reconnects} reconnect${state.reconnects > 1 ? "s" : ""}` : "";
  const on = s === "connected" || s === "reconnecting";
  $("connect").textContent = on || s === "connecting" ? "Disconnect" : "Connect";
  for (const b of [$("mic"), $("interrupt"), $("say").querySelector("button"), $("settings").querySelector("button")]) {
    b.disabled = !on;
  }
}

// ------------------------------------------------------------------ event log

const AUDIO_TYPES = new Set(["input_audio_buffer.append", "response.output_audio.delta"]);

function visible(entry) {
  if (entry.dir === "client" && !$("show-client").checked) return false;
  if (entry.dir === "server" && !$("show-server").checked) return false;
  if (AUDIO_TYPES.has(entry.type) && !$("show-audio").checked) return false;
  const f = $("filter").value.trim();
  return !f || entry.type.includes(f);
}

function row(entry) {
  const li = document.createElement("li");
  li.className = entry.dir + (entry.type === "error" ? " error" : "");
  li.dataset.n = entry.n;
  const t = new Date(entry.t).toISOString().slice(14, 23);
  li.innerHTML = `<span class="muted"></span><span class="dir"></span><span></span>`;
  li.children[0].textContent = t;
  li.children[1].textContent = entry.dir === "client" ? "↑" : "↓";
  li.children[2].textContent = entry.type;
  return li;
}

let logCount = 0;
function logEvent(dir, event) {
  const entry = { n: ++logCount, t: Date.now(), dir, type: event.type, event };
  state.log.push(entry);
  if (state.log.length > MAX_LOG) state.log.splice(0, state.log.length - MAX_LOG);
  $("count").textContent = `(${state.log.length})`;
  if (visible(entry)) {
    const log = $("log");
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(row(entry));
    while (log.children.length > MAX_LOG) log.firstChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}

function renderLog() {
  const log = $("log");
  log.replaceChildren(...state.log.filter(visible).map(row));
  log.scrollTop = log.scrollHeight;
}

function showJson(n) {
  const entry = state.log.find((e) => e.n === n);
  if (!entry) return;
  for (const li of $("log").querySelectorAll("li.sel")) li.classList.remove("sel");
  const li = $("log").querySelector(`li[data-n="${n}"]`);
  if (li) li.classList.add("sel");
  let event = entry.event;
  if (AUDIO_TYPES.has(entry.type)) {
    const key = entry.type === "input_audio_buffer.append" ? "audio" : "delta";
    event = { ...event, [key]: `<${(event[key] || "").length} base64 characters>` };
  }
  $("json").textContent = JSON.stringify(event, null, 2);
  $("json").classList.remove("muted");
}

// ------------------------------------------------------------------ transcript

function message(role, itemId) {
  let m = state.transcript.find((x) => x.itemId === itemId && x.role === role);
  if (!m) {
    m = { role, itemId, text: "", truncated: false, el: document.createElement("div") };
    m.el.className = `msg ${role}`;
    state.transcript.push(m);
    $("transcript").appendChild(m.el);
  }
  return m;
}

function appendText(role, itemId, text, replace = false) {
  const m = message(role, itemId);
  m.text = replace ? text : m.text + text;
  m.el.textContent = m.text || (role === "user" ? "…" : "");
  $("transcript").scrollTop = $("transcript").scrollHeight;
}

// ------------------------------------------------------------------ session

function send(event) {
  state.rt.send(event);
  logEvent("client", event);
}

function sessionFromForm() {
  const vad = $("vad").value;
  const input = {
    turn_detection: vad === "none" ? null
      : vad === "server_vad"
        ? { type: "server_vad", threshold: Number($("threshold").value), silence_duration_ms: Number($("silence").value) }
        : { type: "semantic_vad" },
  };
  const model = $("transcribe").value.trim();
  if (model) input.transcription = { model };
  return { type: "realtime", output_modalities: [$("modality").value], audio: { input } };
}

// the page's own reconnection (a killed relay, a drained worker behind a load balancer)
const RECONNECT = { maxAttempts: 10, initialDelay: 0.25, maxDelay: 5 };

function markNewSession(why) {
  const el = document.createElement("div");
  el.className = "msg session";
  el.textContent = `— new session (${why}); the conversation above stays with the old one —`;
  state.transcript.push({ role: "session", itemId: null, text: why, truncated: false, el });
  $("transcript").appendChild(el);
  $("transcript").scrollTop = $("transcript").scrollHeight;
}

async function connect() {
  state.userClosed = false;
  setStatus("connecting");
  let rt;
  try {
    rt = await RealtimeWebSocket.create({ relay: params.get("relay") || "realtime", reconnect: RECONNECT });
  } catch (exc) {
    state.errors.push(String(exc.message || exc));
    setStatus("disconnected", "(refused)");
    return;
  }
  state.sessions += 1;
  state.rt = rt;
  const player = (state.player = state.player || new AudioPlayer());
  if (player.context.state !== "running") player.context.resume();
  let waitingFirstAudio = false;
  player.onStart = (part, at) => {
    if (!waitingFirstAudio || state.speechEndAt === null) return;
    waitingFirstAudio = false;
    // heard = scheduled start + the output device's latency
    const heardAt = at + (player.context.outputLatency || player.context.baseLatency || 0) * 1000;
    const ms = Math.max(0, Math.round(heardAt - state.speechEndAt));
    const turn = state.turns.length + 1;
    // serverEndAt: the server's audio_end_ms on the mic clock, which includes the VAD's silence
    // window (kept to show the difference; the figure is from speechEndAt)
    state.turns.push({ turn, ms, speechEndAt: state.speechEndAt, heardAt, serverEndAt: state.serverEndAt });
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${turn}</td><td>${ms}</td>`;
    $("latency").tBodies[0].appendChild(tr);
  };
  rt.on("event", (e) => logEvent("server", e));
  rt.on("error", (err) => state.errors.push(`${err.code || err.name}: ${err.message}`));
  rt.on("session.created", () => send({ type: "session.update", session: sessionFromForm() }));
  rt.on("reconnecting", (e) => {
    if (e.type === "reconnecting") {  // the page's socket: the relay (or the worker) is gone
      if (e.attempt === 1 && e.close_code === 1012) state.restarts += 1;
      setStatus("reconnecting", e.close_code === 1012 ? "(relay restarting)"
        : `(relay lost, code ${e.close_code}, attempt ${e.attempt})`);
    } else {  // relay.reconnecting: the relay's upstream, the same session goes on
      setStatus("reconnecting", `(attempt ${state.reconnects + 1})`);
    }
  });
  rt.on("reconnected", (e) => {
    if (e.newSession) {
      state.pageReconnects += 1;
      state.sessions += 1;
      waitingFirstAudio = false;
      markNewSession(`reconnected after the relay was lost`);
    } else {
      state.reconnects += 1;
    }
    setStatus("connected");
  });
  rt.on("close", (info) => {
    stopMic();
    state.rt = null;
    setStatus("disconnected", info.code === 1000 ? "" : `(code ${info.code})`);
  });
  rt.on("input_audio_buffer.speech_stopped", (e) => {
    state.serverEndAt = state.micT0 !== null && typeof e.audio_end_ms === "number"
      ? state.micT0 + e.audio_end_ms : null;
    // the end of speech as the microphone heard it (the last frame with voice), not the
    // server's audio_end_ms: that comes after the VAD's silence window
    state.speechEndAt = state.lastVoiceAt !== null ? state.lastVoiceAt : performance.now();
    waitingFirstAudio = true;
  });
  rt.on("conversation.item.input_audio_transcription.delta", (e) => appendText("user", e.item_id, e.delta));
  rt.on("conversation.item.input_audio_transcription.completed", (e) => appendText("user", e.item_id, e.transcript, true));
  rt.on("conversation.item.added", (e) => {
    const item = e.item || {};
    if (item.type === "message" && item.role === "user") {
      const text = (item.content || []).map((c) => c.text || c.transcript || "").join("");
      appendText("user", item.id, text, true);
    }
  });
  rt.on("response.output_audio_transcript.delta", (e) => appendText("assistant", e.item_id, e.delta));
  rt.on("response.output_text.delta", (e) => appendText("assistant", e.item_id, e.delta));
  attachPlayback(rt, player, { onInterrupt: onInterrupt });
  setStatus("connected");
}

function onInterrupt(stop, events) {
  for (const e of events) logEvent("client", e);
  state.interruptions.push({ stop, events });
  const cut = [stop.itemId, ...(stop.unheardParts || []).map(([itemId]) => itemId)];
  for (const m of state.transcript) {
    if (m.role === "assistant" && cut.includes(m.itemId)) { m.truncated = true; m.el.classList.add("truncated"); }
  }
  const li = document.createElement("li");
  li.textContent = stop.itemId ? `heard ${stop.heardMs} of ${stop.receivedMs} ms` : "nothing playing";
  $("interruptions").appendChild(li);
}

async function startMic() {
  const rt = state.rt;
  if (!rt) return;
  let frames = 0;
  state.mic = await startMicrophone({
    onFrame: (pcm) => {
      const now = performance.now();
      if (state.micT0 === null) state.micT0 = now - 20;
      if (isVoice(pcm)) state.lastVoiceAt = now;
      if (!state.rt || state.rt.readyState !== 1) return; // reconnecting: this audio is lost
      frames++;
      state.rt.sendAudio(pcm);
      if (frames % 50 === 1) logEvent("client", { type: "input_audio_buffer.append", audio: "" });
    },
    context: state.player.context,
  });
  $("mic").textContent = "Mute";
  $("mic").classList.add("active");
}

// a 20 ms frame with speech in it: RMS over -36 dBFS (room noise of a quiet microphone is
// well under it; the speech of a talking user well over it)
const VOICE_RMS = 32768 * 10 ** (-36 / 20);
function isVoice(pcm) {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  return pcm.length > 0 && Math.sqrt(sum / pcm.length) > VOICE_RMS;
}

function stopMic() {
  if (state.mic) state.mic.stop();
  state.mic = null;
  state.micT0 = null;
  $("mic").textContent = "Talk";
  $("mic").classList.remove("active");
}

// ------------------------------------------------------------------ wiring

$("connect").addEventListener("click", () => {
  state.userClosed = !!state.rt;
  if (state.rt) state.rt.close(1000, "OK");
  else connect();
});
$("mic").addEventListener("click", () => (state.mic ? stopMic() : startMic()));
$("interrupt").addEventListener("click", () => {
  const stop = state.player.interrupt();
  send({ type: "response.cancel" });
  const events = bargeInEvents(stop);
  for (const e of events) send(e);
  onInterrupt(stop, []);
});
$("say").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text || !state.rt) return;
  $("text").value = "";
  send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } });
  send({ type: "response.create" });
});
$("settings").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (state.rt) send({ type: "session.update", session: sessionFromForm() });
});
for (const id of ["filter", "show-client", "show-server", "show-audio"]) $(id).addEventListener("input", renderLog);
$("log").addEventListener("click", (ev) => {
  const li = ev.target.closest("li");
  if (li) showJson(Number(li.dataset.n));
});
setStatus("disconnected");
if (params.has("autoconnect")) {
  connect().then(() => { if (params.has("mic") && state.rt) startMic(); });
}
