// Loads FASTER's own JavaScript client files, unmodified, with a WebSocket global
// from `ws`, and drives them against a wireproto server. FASTER's files are not part
// of this repository and nothing is fetched: point FASTER_JS at a FASTER checkout's
// cs/remote/src/FASTER.client/JavascriptClient. Usage:
//   FASTER_JS=.../JavascriptClient node faster_own_client.cjs PORT
// Prints one JSON line per callback, then "ok" (exit 0) or "MISMATCH" (exit 1).
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const { WebSocket } = require("ws");

const dir = process.env.FASTER_JS;
if (!dir) { console.error("set FASTER_JS"); process.exit(2); }
const port = process.argv[2];
const events = [];
const text = (a) => Buffer.from(a).toString();
const context = vm.createContext({
  WebSocket, console, setTimeout,
  writeToScreen: () => {},
  alert: (message) => events.push({ alert: String(message) }),
});
const files = ["BatchHeader.js", "Utils.js", "Queue.js", "ParameterSerializer.js",
  "CallbackFunctionsBase.js", "ClientNetworkSession.js", "ClientSession.js"];
// class declarations stay in a script's scope: export the names onto the context
const source = files.map((f) => fs.readFileSync(path.join(dir, f), "utf8").replace(/^\uFEFF/, "")).join("\n")
  + "\nthis.ClientSession = ClientSession; this.CallbackFunctionsBase = CallbackFunctionsBase;";
vm.runInContext(source, context);
const record = (event) => { console.log(JSON.stringify(event)); events.push(event); };
const functions = {
  ReadCompletionCallback: (key, output, status) => record({ op: "read", key: text(key), value: text(output), status }),
  UpsertCompletionCallback: (key, value, status) => record({ op: "upsert", key: text(key), status }),
  DeleteCompletionCallback: (key, status) => record({ op: "delete", key: text(key), status }),
  RMWCompletionCallback: (key, output, status) => record({ op: "rmw", key: text(key), value: text(output), status }),
  SubscribeKVCompletionCallback: (key, output, status) => record({ op: "notified", key: key === undefined ? null : text(key), value: text(output), status }),
  SubscribeCompletionCallback: (key, output, status) => record({ op: "channel", key: text(key), value: text(output), status }),
};
// FASTER's JavaScript client has no Publish: this one WebSocket batch is the C# client's
// Publish message in the WebSocket layout (type 11, key and value SpanBytes, no serial).
function publishBatch(key, value) {
  const span = (bytes) => { const b = Buffer.alloc(4 + bytes.length); b.writeInt32LE(bytes.length); Buffer.from(bytes).copy(b, 4); return b; };
  const body = Buffer.concat([Buffer.from([11]), span(key), span(value)]);
  const head = Buffer.alloc(12);
  head.writeInt32LE(8 + body.length, 0); head.writeInt32LE(0, 4); head.writeInt32LE(1, 8);
  return Buffer.concat([head, body]);
}
const enc = (s) => Array.from(Buffer.from(s));
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(n) {
  for (let i = 0; i < 50 && events.length < n; i++) await wait(100);
  if (events.length < n) throw new Error(`timed out after ${events.length} of ${n} callbacks`);
}
(async () => {
  const session = new context.ClientSession("127.0.0.1", port, functions);
  const writer = new context.ClientSession("127.0.0.1", port, functions);
  await wait(300);  // ClientNetworkSession gives no promise for onopen
  session.Upsert(enc("js:k"), enc("hello"));
  session.Read(enc("js:k"));
  session.RMW(enc("js:k"), enc("hi"));
  session.Read(enc("js:k"));
  session.SubscribeKV(enc("js:k"));
  session.Subscribe(enc("js:ch"));
  session.Flush();
  await until(4);
  writer.Upsert(enc("js:k"), enc("v2"));
  writer.Flush();
  await until(6);
  writer.Delete(enc("js:k"));
  writer.Read(enc("js:k"));
  writer.Flush();
  await until(9);
  const publisher = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((resolve) => { publisher.onopen = resolve; });
  publisher.send(publishBatch(enc("js:ch"), enc("news")));
  await until(10);
  publisher.close();
  const expected = [
    { op: "upsert", key: "js:k", status: 0x11 },
    { op: "read", key: "js:k", value: "hello", status: 0 },
    { op: "rmw", key: "js:k", value: "", status: 0x20 },
    { op: "read", key: "js:k", value: "hi", status: 0 },
    { op: "upsert", key: "js:k", status: 0x20 },
    { op: "notified", key: "js:k", value: "v2", status: 0 },
    { op: "delete", key: "js:k", status: 0x20 },
    { op: "notified", key: "js:k", value: "", status: 1 },
    { op: "read", key: "js:k", value: "", status: 1 },
    { op: "channel", key: "js:ch", value: "news", status: 0 },
  ];
  const canon = (list) => list.map((e) => JSON.stringify(e)).sort();
  const ok = JSON.stringify(canon(events)) === JSON.stringify(canon(expected));
  console.log(ok ? "ok" : "MISMATCH");
  session.sendSocket.websocket.close();
  writer.sendSocket.websocket.close();
  process.exitCode = ok ? 0 : 1;
})().catch((error) => { console.error(error); process.exit(1); });
