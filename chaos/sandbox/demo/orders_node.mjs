// The sandbox's demo `orders-node` function (Node.js 20; deployed as index.mjs, handler
// index.handler): the routes of the Python `orders` function under /node, with the same
// behaviour. GET /node/health, GET /node/orders, GET /node/orders/{id}, POST /node/orders.
// Orders live in the DynamoDB table $ORDERS_TABLE of the sandbox's AWS API (created on
// first use), reached through the function's VPC: a subnet whose network ACL drops
// traffic makes its environments' order calls fail (503 naming the AZ) while
// GET /node/health, which needs nothing, keeps answering.
//
// DynamoDB is called over its JSON API with a SigV4 signature made here (node:crypto),
// so the function needs no SDK in its package.

import { createHash, createHmac, randomUUID } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "/node";
const DEPENDENCY_TIMEOUT_MS = 2000;
const DYNAMODB_TARGET = "DynamoDB_20120810";

class DependencyError extends Error {
  constructor(reason, errorType = "") {
    super(reason);
    this.reason = reason;
    this.errorType = errorType;
  }
}

const response = (statusCode, body) => ({
  statusCode,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

const az = () => process.env.GAMEDAY_SANDBOX_AZ_ID ?? null;

// What /tmp holds now (MB): a full /tmp is what a disk fault does to a function.
function tmpUsedMb() {
  let bytes = 0;
  for (const name of readdirSync(tmpdir())) {
    try {
      bytes += statSync(join(tmpdir(), name)).size;
    } catch {
      // removed meanwhile
    }
  }
  return Math.round(bytes / 1048576);
}
const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();

function signedHeaders(url, body, operation, region) {
  const env = process.env;
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
  const scope = `${amzDate.slice(0, 8)}/${region}/dynamodb/aws4_request`;
  const headers = {
    "content-type": "application/x-amz-json-1.0",
    host: url.host,
    "x-amz-date": amzDate,
    "x-amz-target": `${DYNAMODB_TARGET}.${operation}`,
  };
  if (env.AWS_SESSION_TOKEN) headers["x-amz-security-token"] = env.AWS_SESSION_TOKEN;
  const names = Object.keys(headers).sort();
  const canonical = [
    "POST",
    url.pathname || "/",
    "",
    names.map((name) => `${name}:${headers[name]}\n`).join(""),
    names.join(";"),
    sha256(body),
  ].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  let key = hmac(`AWS4${env.AWS_SECRET_ACCESS_KEY ?? ""}`, amzDate.slice(0, 8));
  for (const part of [region, "dynamodb", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID ?? ""}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
  delete headers.host; // fetch sends the same host itself
  return headers;
}

async function dynamodb(operation, request) {
  const env = process.env;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const endpoint =
    env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL || `https://dynamodb.${region}.amazonaws.com`;
  const url = new URL(endpoint.replace(/\/+$/, "") + "/");
  const body = JSON.stringify(request);
  let answer;
  try {
    answer = await fetch(url, {
      method: "POST",
      body,
      headers: signedHeaders(url, body, operation, region),
      signal: AbortSignal.timeout(DEPENDENCY_TIMEOUT_MS),
    });
  } catch (error) {
    throw new DependencyError(`connect: ${error.cause?.code ?? error.name}`);
  }
  const text = await answer.text().catch((error) => {
    throw new DependencyError(`read: ${error.name}`);
  });
  const document = text ? JSON.parse(text) : {};
  if (!answer.ok) {
    const errorType = String(document.__type ?? "").split("#").pop();
    throw new DependencyError(errorType || `HTTP ${answer.status}`, errorType);
  }
  return document;
}

async function tableCall(operation, request) {
  const TableName = process.env.ORDERS_TABLE || "orders-node";
  try {
    return await dynamodb(operation, { TableName, ...request });
  } catch (error) {
    if (!(error instanceof DependencyError) || error.errorType !== "ResourceNotFoundException") throw error;
  }
  try {
    await dynamodb("CreateTable", {
      TableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
    });
  } catch (error) {
    // another environment was first
    if (!(error instanceof DependencyError) || error.errorType !== "ResourceInUseException") throw error;
  }
  return dynamodb(operation, { TableName, ...request });
}

const item = (order) => ({ id: { S: order.id }, order: { S: JSON.stringify(order) } });
const order = (stored) => JSON.parse(stored.order.S);

async function orders(method, path, event) {
  if (path === "/orders" && method === "POST") {
    const body = JSON.parse(event.body || "{}");
    const created = { id: randomUUID().replace(/-/g, "").slice(0, 12), items: body.items ?? [], at: Date.now() / 1000 };
    await tableCall("PutItem", { Item: item(created) });
    return response(201, created);
  }
  if (path === "/orders" && method === "GET") {
    const found = await tableCall("Scan", { Limit: 20 });
    return response(200, { orders: (found.Items ?? []).map(order), az: az() });
  }
  if (path.startsWith("/orders/") && method === "GET") {
    const found = await tableCall("GetItem", { Key: { id: { S: path.split("/").pop() } } });
    return found.Item ? response(200, order(found.Item)) : response(404, { error: "not found" });
  }
  return response(404, { error: `no route for ${method} ${path}` });
}

export const handler = async (event) => {
  const method = event.httpMethod ?? "GET";
  const fullPath = event.path ?? "/";
  const path = fullPath.startsWith(PREFIX) ? fullPath.slice(PREFIX.length) || "/" : fullPath;
  if (path === "/health") {
    return response(200, { ok: true, az: az(), runtime: `node ${process.version}`, tmp_used_mb: tmpUsedMb() });
  }
  if (!path.startsWith("/orders")) {
    return response(404, { error: `no route for ${method} ${fullPath}` });
  }
  try {
    return await orders(method, path, event);
  } catch (error) {
    if (!(error instanceof DependencyError)) throw error;
    return response(503, { error: "the orders table is unavailable", reason: error.reason, az: az() });
  }
};
