// A FASTER WebSocket client for wireproto's tests, written from the wire format of
// FASTER's JavaScript client (cs/remote/src/FASTER.client/JavascriptClient/*.js):
// the same batch layout (positive size, seq_no 0, int32 count, no serial numbers),
// the same request messages, and ProcessReplies' reading of the replies (the count
// from byte 8, its Status table: Found 0, NotFound 1, IsPending 2; lengths and sids
// read as IntSerializer does, unsigned little-endian). FASTER's code is not copied
// here (it cannot be vendored). Usage:
//   node faster_ws_client.mjs PORT             upsert, read, RMW, delete, SubscribeKV
//   node faster_ws_client.mjs PORT subscriber  SubscribeKV KEY and Subscribe CHANNEL
//       (argv 4 and 5), prints "ready" once both are pending, then one JSON line per
//       notification until argv 6 (a JSON list) have arrived, compared in order.
// Prints one JSON line per callback and exits 0 when every expectation held, 1 otherwise.
import { WebSocket } from "ws";

const MessageType = { Read: 0, Upsert: 1, RMW: 2, Delete: 3, SubscribeKV: 8, Subscribe: 10 };
const Status = { Found: 0, NotFound: 1, IsPending: 2 };
const enc = (s) => Array.from(new TextEncoder().encode(s));
const dec = (a) => new TextDecoder().decode(Uint8Array.from(a));

class Session {
  constructor(url, onCallback) {
    this.onCallback = onCallback;
    this.buffer = new ArrayBuffer(1 << 17);
    this.offset = 12;
    this.numMessages = 0;
    this.readrmwQueue = [];
    this.upsertQueue = [];
    this.readrmwPendingContext = {};
    this.pubsubQueue = [];
    this.pubsubPendingContext = {};
    this.websocket = new WebSocket(url);
    this.websocket.binaryType = "arraybuffer";
    this.websocket.onmessage = (e) => this.processReplies(new DataView(e.data));
    this.opened = new Promise((resolve, reject) => {
      this.websocket.onopen = resolve;
      this.websocket.onerror = (e) => reject(new Error(`websocket error: ${e.message}`));
    });
  }
  writeInt(at, value) { new DataView(this.buffer).setInt32(at, value, true); return at + 4; }
  writeKVI(bytes) {
    this.offset = this.writeInt(this.offset, bytes.length);
    new Uint8Array(this.buffer).set(bytes, this.offset);
    this.offset += bytes.length;
  }
  message(type, ...spans) {
    new Uint8Array(this.buffer)[this.offset++] = type;
    for (const span of spans) this.writeKVI(span);
    this.numMessages++;
  }
  Upsert(key, value) { this.message(MessageType.Upsert, key, value); this.upsertQueue.push([key, value]); }
  Read(key) { this.message(MessageType.Read, key); this.readrmwQueue.push(key); }
  RMW(key, input) { this.message(MessageType.RMW, key, input); this.readrmwQueue.push(key); }
  Delete(key) { this.message(MessageType.Delete, key); this.upsertQueue.push([key, []]); }
  SubscribeKV(key) { this.message(MessageType.SubscribeKV, key); this.readrmwQueue.push(key); }
  Subscribe(key) { this.message(MessageType.Subscribe, key); this.pubsubQueue.push(key); }
  Flush() {
    if (this.offset <= 12) return;
    this.writeInt(4, 0);
    this.writeInt(8, this.numMessages);
    this.writeInt(0, this.offset - 4);
    this.websocket.send(new Uint8Array(this.buffer, 0, this.offset).slice());
    this.offset = 12;
    this.numMessages = 0;
  }
  readOutput(view, at) {
    const length = view.getUint32(at, true);
    return Array.from(new Uint8Array(view.buffer, at + 4, length));
  }
  processReplies(view) {
    const count = view.getUint8(8);
    let at = 12;
    for (let i = 0; i < count; i++) {
      const op = view.getUint8(at++);
      const status = view.getUint8(at++);
      let output = [];
      let key;
      switch (op) {
        case MessageType.Read:
          key = this.readrmwQueue.shift();
          if (status === Status.Found) { output = this.readOutput(view, at); at += output.length + 4; }
          else if (status === Status.IsPending) { at += 4; }
          this.onCallback({ op: "read", key: dec(key), value: dec(output), status });
          break;
        case MessageType.Upsert: {
          const [k, v] = this.upsertQueue.shift();
          this.onCallback({ op: "upsert", key: dec(k), value: dec(v), status });
          break;
        }
        case MessageType.Delete: {
          const [k] = this.upsertQueue.shift();
          this.onCallback({ op: "delete", key: dec(k), status });
          break;
        }
        case MessageType.RMW:
          key = this.readrmwQueue.shift();
          if (status === Status.Found || status === Status.NotFound) {
            output = this.readOutput(view, at); at += output.length + 4;
          } else if (status === Status.IsPending) { at += 4; }
          this.onCallback({ op: "rmw", key: dec(key), value: dec(output), status });
          break;
        case MessageType.SubscribeKV: {
          const sid = view.getUint32(at, true); at += 4;
          if (status === Status.IsPending) {
            this.readrmwPendingContext[sid] = this.readrmwQueue.shift();
            this.onCallback({ op: "subscribed", key: dec(this.readrmwPendingContext[sid]), sid });
          } else {
            key = this.readrmwPendingContext[sid];
            if (status === Status.Found || status === Status.NotFound) {
              output = this.readOutput(view, at); at += output.length + 4;
            }
            this.onCallback({ op: "notified", key: dec(key), value: dec(output), status, sid });
          }
          break;
        }
        case MessageType.Subscribe: {
          const sid = view.getUint32(at, true); at += 4;
          if (status === Status.IsPending) {
            this.pubsubPendingContext[sid] = this.pubsubQueue.shift();
            this.onCallback({ op: "channel subscribed", key: dec(this.pubsubPendingContext[sid]), sid });
          } else {
            key = this.pubsubPendingContext[sid];
            if (status === Status.Found || status === Status.NotFound) {
              output = this.readOutput(view, at); at += output.length + 4;
            }
            this.onCallback({ op: "channel", key: dec(key), value: dec(output), status, sid });
          }
          break;
        }
        default:
          this.onCallback({ op: "wrong reply", type: op });
      }
    }
  }
}

const port = process.argv[2];
const seen = [];
let wake = () => {};
const record = (event) => { console.log(JSON.stringify(event)); seen.push(event); wake(); };
async function until(n, ms = 5000) {
  const deadline = Date.now() + ms;
  while (seen.length < n) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seen.length} of ${n} callbacks`);
    await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 100); });
  }
}

const url = `ws://127.0.0.1:${port}`;
if (process.argv[3] === "subscriber") {
  const [key, channel, wanted] = [process.argv[4], process.argv[5], JSON.parse(process.argv[6])];
  const subscriber = new Session(url, record);
  await subscriber.opened;
  subscriber.SubscribeKV(enc(key));
  subscriber.Subscribe(enc(channel));
  subscriber.Flush();
  await until(2);
  console.log("ready");
  await until(2 + wanted.length, 20000);
  const ok = JSON.stringify(seen.slice(2)) === JSON.stringify(wanted);
  console.log(ok ? "ok" : "MISMATCH");
  subscriber.websocket.close();
  process.exit(ok ? 0 : 1);
}
const session = new Session(url, record);
const writer = new Session(url, record);
await Promise.all([session.opened, writer.opened]);
session.Upsert(enc("node:k"), enc("hello"));
session.Read(enc("node:k"));
session.RMW(enc("node:k"), enc("hi"));
session.Read(enc("node:k"));
session.SubscribeKV(enc("node:k"));
session.Flush();
await until(5);
writer.Upsert(enc("node:k"), enc("v2"));
writer.Flush();
await until(7);
writer.Delete(enc("node:k"));
writer.Read(enc("node:k"));
writer.Flush();
await until(10);
const expected = [
  { op: "upsert", key: "node:k", value: "hello", status: 0x11 },
  { op: "read", key: "node:k", value: "hello", status: 0 },
  { op: "rmw", key: "node:k", value: "", status: 0x20 },
  { op: "read", key: "node:k", value: "hi", status: 0 },
  { op: "subscribed", key: "node:k", sid: 1 },
  { op: "upsert", key: "node:k", value: "v2", status: 0x20 },
  { op: "notified", key: "node:k", value: "v2", status: 0, sid: 1 },
  { op: "delete", key: "node:k", status: 0x20 },
  { op: "notified", key: "node:k", value: "", status: 1, sid: 1 },
  { op: "read", key: "node:k", value: "", status: 1 },
];
const canon = (events) => events.map((e) => JSON.stringify(e)).sort();
const ok = JSON.stringify(canon(seen)) === JSON.stringify(canon(expected));
console.log(ok ? "ok" : "MISMATCH");
session.websocket.close();
writer.websocket.close();
process.exitCode = ok ? 0 : 1;
