// Idle memory per open TLS session of openai-node (bench/scale.py --idle-tls runs it when `node`
// and `npm install openai ws` works: the script is copied into that npm folder and run there).
//   node --expose-gc idle_node.mjs <base_url> <n>   (copied next to node_modules; NODE_EXTRA_CA_CERTS=<ca file>)
// Prints one JSON line: {"kind": "openai-node", "n": n, "idle_kb": KB per session}.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [baseURL, nArg] = process.argv.slice(2);
const n = Number(nArg);
const client = new OpenAI({ apiKey: "sk-bench-scale-0000000000", baseURL });
const settle = () => new Promise((r) => setTimeout(r, 1000));
globalThis.gc?.();
await settle();
globalThis.gc?.();
const rss0 = process.memoryUsage().rss;
const sessions = [];
for (let i = 0; i < n; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(n, i + 50); j++) {
    const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
    rt.on("error", () => {});
    sessions.push(rt);
    batch.push(new Promise((resolve, reject) => {
      rt.socket.once("open", resolve);
      rt.socket.once("error", reject);
    }));
  }
  await Promise.all(batch);
}
await settle();
globalThis.gc?.();
const rss = process.memoryUsage().rss;
console.log(JSON.stringify({ kind: "openai-node", n, idle_kb: (rss - rss0) / n / 1024 }));
for (const rt of sessions) rt.close();
process.exit(0);
