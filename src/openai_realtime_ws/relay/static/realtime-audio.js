// realtime-audio.js: microphone capture and playback for realtime.js, dependency-free.
// It owns: capture (AudioWorklet, 24 kHz PCM16 mono, 20 ms frames), playback with per-part
// position tracking (what the listener has heard of each assistant audio part), and barge-in
// truncation with the same rules as the Python toolkit (openai_realtime_ws.core.playback):
//   * audio_end_ms is what was heard, never more than what was received for the part;
//   * nothing heard but audio received: truncate at 0;
//   * an assistant message with no audio received is deleted instead (unheardItemId);
//   * a complete part heard to the end: nothing to truncate;
//   * every other part queued behind the stop point (e.g. the next reply's first audio while the
//     last one's tail played) was received but none of it heard: truncate it at 0 (unheardParts).
//
//   import { startMicrophone, AudioPlayer, attachPlayback } from "/realtime-audio.js";
//   const player = new AudioPlayer();
//   attachPlayback(rt, player);                       // plays deltas, truncates on barge-in
//   const mic = await startMicrophone({ onFrame: (pcm) => rt.sendAudio(pcm) });

import { base64ToPcm16 } from "./realtime.js";

export const SAMPLE_RATE = 24000;
const WORKLET_LOADED = new WeakSet();

const CAPTURE_WORKLET = `
class RealtimeCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.n = options.processorOptions.frameSamples;
    this.buf = new Int16Array(this.n);
    this.i = 0;
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) {
      for (let k = 0; k < ch.length; k++) {
        const s = Math.max(-1, Math.min(1, ch[k]));
        this.buf[this.i++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        if (this.i === this.n) {
          this.port.postMessage(this.buf.buffer, [this.buf.buffer]);
          this.buf = new Int16Array(this.n);
          this.i = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("realtime-capture", RealtimeCapture);
`;

/**
 * Capture the microphone as 24 kHz PCM16 frames of `frameMs` (20) milliseconds.
 * onFrame(Int16Array) is called for each frame. Returns {context, stream, stop()}.
 * `audio` overrides the getUserMedia audio constraints.
 */
export async function startMicrophone({ onFrame, frameMs = 20, context, audio = {} } = {}) {
  if (typeof onFrame !== "function") throw new TypeError("startMicrophone: onFrame must be a function");
  const ctx = context || new AudioContext({ sampleRate: SAMPLE_RATE });
  if (ctx.sampleRate !== SAMPLE_RATE) {
    throw new RangeError(`startMicrophone: the AudioContext runs at ${ctx.sampleRate} Hz; expected ${SAMPLE_RATE}`);
  }
  if (!WORKLET_LOADED.has(ctx)) {
    const url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: "text/javascript" }));
    try {
      await ctx.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    WORKLET_LOADED.add(ctx);
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...audio },
  });
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "realtime-capture", {
    processorOptions: { frameSamples: Math.round((SAMPLE_RATE * frameMs) / 1000) },
  });
  const mute = ctx.createGain();
  mute.gain.value = 0;
  node.port.onmessage = (e) => onFrame(new Int16Array(e.data));
  source.connect(node).connect(mute).connect(ctx.destination);
  if (ctx.state !== "running") await ctx.resume();
  return {
    context: ctx,
    stream,
    stop() {
      node.port.onmessage = null;
      source.disconnect();
      node.disconnect();
      for (const track of stream.getTracks()) track.stop();
      if (!context) ctx.close();
    },
  };
}

/** Where each assistant audio part is: received and heard milliseconds. */
class Part {
  constructor(itemId, contentIndex) {
    this.itemId = itemId;
    this.contentIndex = contentIndex;
    this.receivedMs = 0;
    this.complete = false;
  }
}

/**
 * Plays PCM16 24 kHz audio parts back to back and knows, at any moment, how much of each part
 * the listener has heard (the AudioContext clock, minus its output latency).
 */
export class AudioPlayer {
  constructor({ context } = {}) {
    this.context = context || new AudioContext({ sampleRate: SAMPLE_RATE });
    this.parts = new Map();
    this.segments = []; // {part, source, start, duration, offsetMs}, in playing order
    this.nextTime = 0;
    this.onStart = null; // (part, performanceTime) when a part's first audio is scheduled
  }

  #key(itemId, contentIndex) {
    return `${itemId}\u0000${contentIndex}`;
  }

  part(itemId, contentIndex = 0) {
    return this.parts.get(this.#key(itemId, contentIndex)) || null;
  }

  /** Queue audio for a part (an Int16Array of PCM16 24 kHz samples, or base64 text). */
  enqueue(itemId, contentIndex, pcm) {
    if (typeof pcm === "string") pcm = base64ToPcm16(pcm);
    const key = this.#key(itemId, contentIndex);
    let part = this.parts.get(key);
    if (!part) {
      part = new Part(itemId, contentIndex);
      this.parts.set(key, part);
      if (this.parts.size > 64) this.parts.delete(this.parts.keys().next().value);
    }
    if (!pcm.length) return;
    const ctx = this.context;
    const buffer = ctx.createBuffer(1, pcm.length, SAMPLE_RATE);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 0x8000;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const start = Math.max(ctx.currentTime + 0.01, this.nextTime);
    source.start(start);
    const first = part.receivedMs === 0;
    this.segments.push({ part, source, start, duration: buffer.duration, offsetMs: part.receivedMs });
    this.nextTime = start + buffer.duration;
    part.receivedMs += (pcm.length * 1000) / SAMPLE_RATE;
    if (first && this.onStart) this.onStart(part, performance.now() + (start - ctx.currentTime) * 1000);
    const now = ctx.currentTime;
    while (this.segments.length > 1 && this.segments[0].start + this.segments[0].duration < now - 5) {
      this.segments.shift(); // long finished: only their part totals matter now
    }
  }

  markComplete(itemId, contentIndex = 0) {
    const part = this.part(itemId, contentIndex);
    if (part) part.complete = true;
  }

  /** The context time the listener hears now. */
  #heardTime() {
    return this.context.currentTime - (this.context.outputLatency || 0);
  }

  /** Whether audio is queued or sounding. */
  get playing() {
    return this.#heardTime() < this.nextTime;
  }

  /** Milliseconds of a part heard so far (never more than received). */
  heardMs(itemId, contentIndex = 0) {
    const part = this.part(itemId, contentIndex);
    return part ? this.#heard(part, this.#heardTime()) : 0;
  }

  #heard(part, t) {
    let ms = 0;
    let seen = false;
    for (const s of this.segments) {
      if (s.part !== part) continue;
      if (!seen) { ms = s.offsetMs; seen = true; }
      ms = s.offsetMs + Math.max(0, Math.min(s.duration, t - s.start)) * 1000;
      if (t < s.start + s.duration) break;
    }
    return Math.min(Math.floor(ms), Math.floor(part.receivedMs));
  }

  /**
   * Stop now: drop everything queued and say where the current part stopped:
   * {itemId, contentIndex, heardMs, receivedMs, complete, wasPlaying, unheardParts} (itemId null
   * when nothing was received). unheardParts: [[itemId, contentIndex], ...], oldest first, the
   * other parts whose audio was all queued behind the stop point (none of it heard), as
   * core/playback.py's PlaybackStop.unheard_parts.
   */
  interrupt() {
    const t = this.#heardTime();
    const wasPlaying = t < this.nextTime;
    let current = null;
    let head = null;
    for (const s of this.segments) {
      if (s.start <= t) current = s;
      else if (!head) head = s;
    }
    let part = current ? current.part : head ? head.part : null;
    if (current && head && head.part !== current.part && t >= current.start + current.duration) {
      const last = this.segments.filter((s) => s.part === current.part).pop();
      if (last && t >= last.start + last.duration) part = head.part; // fully heard: stop is in the next
    }
    const heardMs = part ? this.#heard(part, t) : 0;
    const unheard = new Map(); // parts queued behind the stopped one: none of their audio is heard
    for (const s of this.segments) {
      if (s.start > t && s.part !== part) {
        unheard.set(this.#key(s.part.itemId, s.part.contentIndex), [s.part.itemId, s.part.contentIndex]);
      }
    }
    const unheardParts = [...unheard.values()];
    for (const s of this.segments) {
      try { s.source.stop(); } catch { /* already stopped */ }
      s.source.disconnect();
    }
    this.segments = [];
    this.nextTime = 0;
    if (!part) {
      return { itemId: null, contentIndex: 0, heardMs: 0, receivedMs: 0, complete: false, wasPlaying, unheardParts };
    }
    return {
      itemId: part.itemId, contentIndex: part.contentIndex, heardMs,
      receivedMs: Math.floor(part.receivedMs), complete: part.complete, wasPlaying, unheardParts,
    };
  }
}

/** The client events that align the conversation with what was heard (module rules). */
export function bargeInEvents(stop, { unheardItemId = null } = {}) {
  const events = [];
  if (stop.itemId !== null && stop.receivedMs > 0) {
    const audioEndMs = Math.min(stop.heardMs, stop.receivedMs);
    if (!(stop.complete && audioEndMs >= stop.receivedMs)) {
      events.push({
        type: "conversation.item.truncate", item_id: stop.itemId,
        content_index: stop.contentIndex, audio_end_ms: audioEndMs,
      });
    }
  }
  const unheardParts = stop.unheardParts || [];
  for (const [itemId, contentIndex] of unheardParts) { // received, none of it heard
    events.push({
      type: "conversation.item.truncate", item_id: itemId,
      content_index: contentIndex, audio_end_ms: 0,
    });
  }
  if (unheardItemId !== null && unheardItemId !== stop.itemId
      && !unheardParts.some(([itemId]) => itemId === unheardItemId)) {
    events.push({ type: "conversation.item.delete", item_id: unheardItemId });
  }
  return events;
}

/**
 * Wire a player to a RealtimeWebSocket: audio deltas are played, and when the user starts
 * speaking over the assistant (input_audio_buffer.speech_started) playback stops and the
 * truncation events are sent. onInterrupt(stop, events) is called after each barge-in.
 */
export function attachPlayback(rt, player, { onInterrupt = null } = {}) {
  let messageWithoutAudio = null;
  let audioResponse = false;
  rt.on("response.created", (e) => {
    const modalities = (e.response && e.response.output_modalities) || ["audio"];
    audioResponse = modalities.includes("audio");
  });
  rt.on("response.output_item.added", (e) => {
    if (audioResponse && e.item && e.item.type === "message" && e.item.role === "assistant") {
      messageWithoutAudio = e.item.id;
    }
  });
  rt.on("response.output_audio.delta", (e) => {
    if (e.item_id === messageWithoutAudio) messageWithoutAudio = null;
    player.enqueue(e.item_id, e.content_index, e.delta);
  });
  rt.on("response.output_audio.done", (e) => player.markComplete(e.item_id, e.content_index));
  rt.on("response.done", () => { messageWithoutAudio = null; });
  rt.on("input_audio_buffer.speech_started", () => {
    if (!player.playing && messageWithoutAudio === null) return;
    const stop = player.interrupt();
    const events = bargeInEvents(stop, { unheardItemId: messageWithoutAudio });
    messageWithoutAudio = null;
    for (const event of events) rt.send(event);
    if (onInterrupt) onInterrupt(stop, events);
  });
}
