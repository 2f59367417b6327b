// The official openai Node SDK against `keyway up`: the Responses API,
// stream and non-stream, text and a function call, retrieval of the same
// id, and another tenant's 404. Run by tests/e2e/agents.rs with
// KEYWAY_BASE_URL (no /v1) and KEYWAY_API_KEY (the admin key, which
// creates the two tenants). Exits non-zero on the first failed check.
import assert from "node:assert/strict";
import OpenAI from "openai";

const base = process.env.KEYWAY_BASE_URL;
const admin = process.env.KEYWAY_API_KEY;
assert.ok(base && admin, "KEYWAY_BASE_URL and KEYWAY_API_KEY are required");

async function adminPost(path, body) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, 201, `${path}: ${text}`);
  return JSON.parse(text);
}

async function tenantClient(name) {
  const tenant = await adminPost("/tenants", { name, plan: "starter" });
  const key = await adminPost(`/tenants/${tenant.id}/api-keys`, { name });
  return new OpenAI({ baseURL: `${base}/v1`, apiKey: key.key, maxRetries: 0, timeout: 30_000 });
}

const reply = (text) => `Hello from mock-llm! You said: ${text} [Authenticated as keyway-system]`;
const weather = {
  type: "function",
  name: "get_weather",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

const client = await tenantClient("node responses");
const other = await tenantClient("node responses other");
let checks = 0;

const text = await client.responses.create({ model: "mock-gpt", input: "hello node" });
assert.equal(text.output_text, reply("hello node"));
assert.equal((await client.responses.retrieve(text.id)).output_text, reply("hello node"));
await assert.rejects(other.responses.retrieve(text.id), (e) => e instanceof OpenAI.NotFoundError);
checks += 3;

const stream = client.responses.stream({ model: "mock-gpt", input: "stream node" });
let deltas = "";
for await (const event of stream) {
  if (event.type === "response.output_text.delta") deltas += event.delta;
}
const final = await stream.finalResponse();
assert.equal(deltas, reply("stream node"));
assert.equal(final.output_text, deltas);
assert.equal((await client.responses.retrieve(final.id)).id, final.id);
checks += 3;

const called = await client.responses.create({ model: "mock-gpt", input: "weather?", tools: [weather] });
const call = called.output.find((item) => item.type === "function_call");
assert.equal(call.name, "get_weather");
assert.deepEqual(JSON.parse(call.arguments), { city: "mock" });
const answered = await client.responses.create({
  model: "mock-gpt",
  tools: [weather],
  input: [
    { role: "user", content: "weather?" },
    call,
    { type: "function_call_output", call_id: call.call_id, output: "sunny" },
  ],
});
assert.equal(answered.output_text, reply("weather?"));
checks += 3;

const callStream = client.responses.stream({ model: "mock-gpt", input: "weather?", tools: [weather] });
let args = "";
for await (const event of callStream) {
  if (event.type === "response.function_call_arguments.delta") args += event.delta;
}
const streamedCall = (await callStream.finalResponse()).output.find((i) => i.type === "function_call");
assert.equal(args, streamedCall.arguments);
assert.equal((await client.responses.retrieve((await callStream.finalResponse()).id)).output[0].call_id, streamedCall.call_id);
checks += 2;

console.log(`node responses: ${checks} checks passed`);
