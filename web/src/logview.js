// logview.js: one stream of one attempt of a run, in a bounded window.
// The window holds at most WINDOW bytes of the stream, as segments
// {off, size, raw, enc}; they are decoded only when shown, so a job
// writing hundreds of MiB costs the page no more than the window: in
// follow mode live LogChunks (decoded from their encoding) are appended
// and the oldest bytes dropped; stored bytes come from run.logs (paging by
// offset), and the end of a stored stream is found by probing.
import { decompress } from "fzstd";
import { call } from "./api.js";

export const WINDOW = 256 * 1024;
const PAGE = 1 << 20;

const bytesOf = (s) => {
  if (s.bytes) return s.bytes;
  s.bytes = s.enc === "ZSTD" ? decompress(s.raw) : s.raw;
  s.raw = null;
  return s.bytes;
};

export class LogView {
  constructor(uuid, pre, onState) {
    this.uuid = uuid;
    this.pre = pre;
    this.onState = onState;
    this.attempt = 0;
    this.stream = "STDOUT";
    this.follow = true;
    this.reset();
  }

  reset() {
    this.restart(0);            // the window [start, end), shown: drawn
    this.known = 0;             // bytes the stream is known to hold
    this.eof = false;
    this.busy = false;
    this.gen = (this.gen || 0) + 1;
    this.draw();
  }

  // An empty window at off.
  restart(off) {
    this.segs = [];
    this.shown = null;
    this.start = this.end = off;
  }

  select(attempt, stream) {
    this.attempt = attempt;
    this.stream = stream;
    this.reset();
    return this.follow ? this.tail() : this.from(0);
  }

  // Drop whole segments from the head (or tail) while WINDOW bytes remain
  // without them; draw() shows WINDOW bytes of what is left.
  trim(fromHead = true) {
    this.grewAtHead = !fromHead;
    for (;;) {
      const s = fromHead ? this.segs[0] : this.segs[this.segs.length - 1];
      if (this.segs.length < 2 || this.end - this.start - s.size < WINDOW) break;
      if (fromHead) { this.segs.shift(); this.start += s.size; }
      else { this.segs.pop(); this.end -= s.size; }
    }
  }

  add(seg, atHead = false) {
    if (atHead) {
      this.segs.unshift(seg);
      this.start = seg.off;
    } else {
      this.segs.push(seg);
      this.end = seg.off + seg.size;
    }
    this.known = Math.max(this.known, seg.off + seg.size);
    this.trim(!atHead);
    this.draw();
  }

  // A live chunk of the run (any attempt, any stream).
  live(c) {
    if (c.attempt > this.attempt && this.follow) {
      this.onState({ newAttempt: c.attempt });
      return;
    }
    if (c.attempt !== this.attempt || c.stream !== this.stream) return;
    const size = c.encoding === "ZSTD" ? c.size : c.data.length;
    this.known = Math.max(this.known, c.offset + size);
    if (c.eof) this.eof = true;
    if (!this.follow || this.busy) return this.state();
    if (c.offset === this.end && size > 0) this.add({ off: c.offset, size, raw: c.data, enc: c.encoding });
    else if (c.offset > this.end) this.catchUp();
    this.state();
  }

  // Stored bytes [off, off+max) as segments, one run.logs request.
  async read(off, max) {
    if (this.attempt === 0) return [];
    const r = await call("run.logs", { uuid: this.uuid, attempt: this.attempt, stream: this.stream, offset: off, max_bytes: Math.min(max, WINDOW / 4) });
    if (r.eof) { this.eof = true; this.known = Math.max(this.known, r.next_offset); }
    this.known = Math.max(this.known, r.next_offset);
    return r.chunks.map((c) => ({ off: c.offset, size: c.encoding === "ZSTD" ? c.size : c.data.length, raw: c.data, enc: c.encoding }));
  }

  async has(off) {
    if (this.attempt === 0) return false;
    const r = await call("run.logs", { uuid: this.uuid, attempt: this.attempt, stream: this.stream, offset: off, max_bytes: 1 });
    return r.chunks.length > 0;
  }

  // The stream's stored size: probe upwards, then halve.
  async size() {
    let lo = this.known, hi = Math.max(lo, 65536);
    if (!(await this.has(lo))) return lo;
    while (await this.has(hi)) { lo = hi; hi *= 4; }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.has(mid)) lo = mid; else hi = mid;
    }
    return hi;
  }

  // Run fn(gen) unless another fetch is under way; whether it ran.
  async guarded(fn) {
    if (this.busy) return false;
    this.busy = true;
    const gen = this.gen;
    try { await fn(gen); } finally { if (gen === this.gen) this.busy = false; this.state(); }
    return true;
  }

  // The last WINDOW bytes, then whatever arrived meanwhile.
  tail() {
    return this.guarded(async (gen) => {
      const n = await this.size();
      if (gen !== this.gen) return;
      this.restart(Math.max(0, n - WINDOW));
      await this.fill(gen, n);
    }).then(() => this.catchUp());
  }

  // The window from off on (follow mode off).
  from(off) {
    return this.guarded(async (gen) => {
      this.restart(off);
      await this.fill(gen, off + WINDOW);
    });
  }

  async fill(gen, upto) {
    while (this.end < upto) {
      const segs = await this.read(this.end, upto - this.end);
      if (gen !== this.gen || !segs.length) break;
      for (const s of segs) this.add(s);
    }
    this.draw();
  }

  older() {
    return this.guarded(async (gen) => {
      const from = Math.max(0, this.start - WINDOW / 2);
      const segs = [];
      for (let o = from; o < this.start;) {
        const got = await this.read(o, this.start - o);
        if (gen !== this.gen || !got.length) break;
        segs.push(...got);
        o = got[got.length - 1].off + got[got.length - 1].size;
      }
      for (const s of segs.reverse()) this.add(s, true);
    });
  }

  newer() {
    return this.guarded((gen) => this.fill(gen, this.end + WINDOW / 2));
  }

  // Follow mode: fetch stored bytes the live chunks skipped, again while
  // more arrived meanwhile and the last fetch got some.
  catchUp() {
    if (!this.follow || this.end >= this.known) return;
    const from = this.end;
    return this.guarded(async (gen) => {
      if (this.known - this.end > WINDOW) {
        this.restart(this.known - WINDOW);
      }
      await this.fill(gen, this.known);
    }).then((ran) => ran && this.end > from ? this.catchUp() : undefined);
  }

  setFollow(on) {
    this.follow = on;
    if (on) return this.tail();
    this.state();
  }

  // The whole stream, page by page, as a Blob.
  async blob() {
    const parts = [];
    for (let off = 0; ;) {
      const r = await call("run.logs", { uuid: this.uuid, attempt: this.attempt, stream: this.stream, offset: off, max_bytes: PAGE });
      for (const c of r.chunks) parts.push(c.encoding === "ZSTD" ? decompress(c.data) : c.data);
      if (r.eof || r.next_offset === off) break;
      off = r.next_offset;
    }
    return new Blob(parts, { type: "text/plain" });
  }

  draw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      const stick = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
      const parts = this.segs.map(bytesOf);
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) { all.set(p, o); o += p.length; }
      // Show WINDOW bytes: the end's, or the start's when it grew there.
      let shown = all;
      this.shown = [this.start, this.end];
      if (all.length > WINDOW && this.grewAtHead) {
        shown = all.subarray(0, WINDOW);
        this.shown = [this.start, this.start + WINDOW];
      } else if (all.length > WINDOW) {
        shown = all.subarray(all.length - WINDOW);
        this.shown = [this.end - WINDOW, this.end];
      }
      this.pre.textContent = new TextDecoder().decode(shown);
      if (this.follow || stick) this.pre.scrollTop = this.pre.scrollHeight;
      this.state();
    });
  }

  state() {
    const [start, end] = this.shown || [this.start, this.end];
    this.onState({ start, end, known: this.known, eof: this.eof, follow: this.follow, busy: this.busy });
  }
}
