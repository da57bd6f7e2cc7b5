// api.js: batchd's protobuf API over NATS (WebSocket), as every client
// speaks it: requests on {prefix}.v1.{ws}.{kind}.{verb}, events on
// .status.> and .logs.{run}. Messages are plain objects with the .proto's
// field names; enums are their names; int64s are numbers.
import { connect } from "nats.ws";
import { batchd } from "batchd-pb";

const type = (n) => batchd.v1[n];
const OBJ = { enums: String, longs: Number, defaults: true, arrays: true, objects: true };

// verb: [request type, reply type]
const VERBS = {
  "jobdef.create": ["CreateJobDefinitionRequest", "JobDefinitionReply"],
  "jobdef.get": ["GetJobDefinitionRequest", "JobDefinitionReply"],
  "jobdef.list": ["ListJobDefinitionsRequest", "ListJobDefinitionsReply"],
  "jobdef.update": ["UpdateJobDefinitionRequest", "JobDefinitionReply"],
  "jobdef.delete": ["DeleteJobDefinitionRequest", "DeleteReply"],
  "cluster.create": ["CreateClusterRequest", "ClusterReply"],
  "cluster.get": ["GetClusterRequest", "ClusterReply"],
  "cluster.list": ["ListClustersRequest", "ListClustersReply"],
  "cluster.pause": ["GetClusterRequest", "ClusterReply"],
  "cluster.resume": ["GetClusterRequest", "ClusterReply"],
  "cluster.delete": ["GetClusterRequest", "DeleteReply"],
  "run.submit": ["SubmitJobRunRequest", "JobRunReply"],
  "run.get": ["GetJobRunRequest", "JobRunReply"],
  "run.cancel": ["CancelJobRunRequest", "JobRunReply"],
  "run.cancel_all": ["CancelJobRunsRequest", "CancelJobRunsReply"],
  "run.list": ["ListJobRunsRequest", "ListJobRunsReply"],
  "run.logs": ["GetJobRunLogsRequest", "JobRunLogsReply"],
  "run.events": ["GetJobRunRequest", "JobRunEventsReply"],
};

export const enumNames = (n) => Object.keys(batchd.v1[n]);

// A refused request: code, message and the request field at fault.
export class ApiError extends Error {
  constructor(e) {
    super(e.message || e.code);
    this.code = e.code;
    this.field = e.field || "";
  }
}

let nc = null;
let conf = { prefix: "batchd", workspace: "default", reply_prefix: "_INBOX." };
let ws = "default";

export const workspace = () => ws;
export const connection = () => nc;

// Connect with {url, ws, user, pass, token}; throws what nats.ws throws.
export async function open(c, serverConf) {
  conf = Object.assign(conf, serverConf || {});
  ws = c.ws || conf.workspace;
  const inbox = (conf.reply_prefix || "_INBOX.").replace("{ws}", ws).replace(/\.$/, "");
  const o = { servers: c.url, name: "batchd-console", inboxPrefix: inbox,
    maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: 5000 };
  if (c.user) { o.user = c.user; o.pass = c.pass || ""; }
  if (c.token) o.token = c.token;
  nc = await connect(o);
  return nc;
}

export async function close() {
  if (nc) await nc.close().catch(() => {});
  nc = null;
}

export const subject = (s) => `${conf.prefix}.v1.${ws}.${s}`;

export function encode(t, obj) {
  const T = type(t);
  return T.encode(T.fromObject(obj)).finish();
}

export function decode(t, data) {
  const T = type(t);
  return T.toObject(T.decode(data), OBJ);
}

// One request; the reply, or an ApiError when batchd refused it.
export async function call(verb, req, timeout = 10000) {
  const [rq, rp] = VERBS[verb];
  const m = await nc.request(subject(verb), encode(rq, req), { timeout });
  const r = decode(rp, m.data);
  if (r.error && r.error.code && r.error.code !== "OK") throw new ApiError(r.error);
  return r;
}

// Every page of a list (at most max items): for pickers.
export async function listAll(verb, key, max = 1000) {
  const items = [];
  let page_token = "";
  do {
    const r = await call(verb, { page_size: 500, page_token });
    items.push(...r[key]);
    page_token = r.next_page_token;
  } while (page_token && items.length < max);
  return items;
}

// Subscribe to {prefix}.v1.{ws}.{s}; fn(decoded message). Returns the
// subscription (unsubscribe() to stop).
export function subscribe(s, t, fn) {
  return nc.subscribe(subject(s), {
    callback: (err, m) => {
      if (err) return;
      let v;
      try { v = decode(t, m.data); } catch { return; }
      fn(v);
    },
  });
}
