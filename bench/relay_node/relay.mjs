// A minimal Node relay for bench/relay.py, in the shape of openai-realtime-console's relay
// (relay-server/lib/relay.js): one upstream WebSocket per browser with the server's key; every
// event is parsed and re-serialised in both directions; no policy, no limits, no reconnection.
// Prints its URL (http://127.0.0.1:PORT/) as its first line. Needs `npm install` in this folder.
//
//   OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=sk-… node relay.mjs [port]
import http from "node:http";
import { WebSocket, WebSocketServer } from "ws";

const base = (process.env.OPENAI_BASE_URL || "https://api.openai.com/v1").replace(/^http/, "ws");
const key = process.env.OPENAI_API_KEY || "";
const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server, perMessageDeflate: false });

wss.on("connection", (browser, req) => {
  const model = new URL(req.url, "http://x").searchParams.get("model") || "gpt-realtime";
  const upstream = new WebSocket(`${base}/realtime?model=${encodeURIComponent(model)}`, ["realtime"], {
    headers: { Authorization: `Bearer ${key}` }, perMessageDeflate: false,
  });
  upstream.setNoDelay?.(true);
  const queue = [];
  upstream.on("open", () => { for (const m of queue.splice(0)) upstream.send(m); });
  upstream.on("message", (data) => {
    const event = JSON.parse(data.toString());
    browser.send(JSON.stringify(event));
  });
  browser.on("message", (data) => {
    let event;
    try { event = JSON.parse(data.toString()); } catch { return; }
    const text = JSON.stringify(event);
    if (upstream.readyState === WebSocket.OPEN) upstream.send(text); else queue.push(text);
  });
  upstream.on("close", () => browser.close());
  browser.on("close", () => upstream.close());
  upstream.on("error", () => browser.close(1011));
  browser.on("error", () => upstream.close());
});

server.on("connection", (socket) => socket.setNoDelay(true));
server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(`http://127.0.0.1:${server.address().port}/`);
});
